#!/usr/bin/env node
// Oracle for the client's Sui transactions (client/tests/sui_transactions.rs): the official
// TypeScript SDK (npm @mysten/sui, pinned in package.json) builds the same transactions with
// `Transaction`, from explicit object references, gas coins, gas price and budget, offline
// (`tx.build()` without a client), signs them and verifies signatures. Reads one JSON document
// on stdin, prints one JSON array.
//
//   node scripts/sui-tx-oracle.mjs build < {"seed": HEX, "cases": [CASE...]}
//       per case: {"bytes": Base64 TransactionData, "signature": Base64 flag||sig||key}, signed
//       with the Ed25519 key SEED. A CASE is {"kind", "gas", "walrus"?, ...its arguments}; see
//       the builders below (u64 values as decimal strings, byte strings as hex, u256 values
//       as the hex of their 32 little-endian bytes).
//   node scripts/sui-tx-oracle.mjs verify < [{"bytes", "signature"}...]
//       per pair: {"signer": address} if the SDK's verifyTransactionSignature accepts it,
//       else {"error": message}

import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { Transaction } from '@mysten/sui/transactions';
import { verifyTransactionSignature } from '@mysten/sui/verify';

const CLOCK = { objectId: '0x6', initialSharedVersion: 1 };
const RS2 = 1;

const bytes = (hex) => Array.from(Buffer.from(hex, 'hex'));
/** A Move u256 from the hex of its 32 little-endian bytes. */
const u256 = (hex) => BigInt(`0x${Buffer.from(hex, 'hex').reverse().toString('hex') || '0'}`);

function shared(tx, object, mutable) {
  return tx.sharedObjectRef({
    objectId: object.objectId,
    initialSharedVersion: object.initialSharedVersion,
    mutable,
  });
}

/** The sender's WAL: the first coin, with the others merged into it. */
// `system::register_blob_bounded` on `storage`, the `Blob` kept by the sender.
function registerBlob(tx, c, system, storage, coin) {
  const blob = tx.moveCall({
    target: `${c.walrus.package}::system::register_blob_bounded`,
    arguments: [
      system,
      storage,
      tx.pure.u256(u256(c.blobId)),
      tx.pure.u256(u256(c.rootHash)),
      tx.pure.u64(c.size),
      tx.pure.u8(RS2),
      tx.pure.bool(c.deletable),
      coin,
      tx.pure.u64(c.maxWriteCost),
    ],
  });
  tx.transferObjects([blob], c.gas.sender);
}

function walCoin(tx, coins) {
  const [first, ...rest] = coins.map((c) => tx.objectRef(c));
  if (rest.length > 0) tx.mergeCoins(first, rest);
  return first;
}

const builders = {
  publish(tx, c) {
    const cap = tx.publish({ modules: c.modules, dependencies: c.dependencies });
    tx.transferObjects([cap], c.gas.sender);
  },
  initialize_walrus(tx, c) {
    tx.moveCall({
      target: `${c.package}::init::initialize_walrus`,
      arguments: [
        tx.objectRef(c.initCap),
        tx.pure.u16(c.nShards),
        tx.pure.u64(c.epochZeroDurationMs),
        tx.pure.u64(c.epochDurationMs),
        tx.pure.u32(c.maxEpochsAhead),
        tx.pure.u16(c.maxCommitteeSize),
        shared(tx, CLOCK, false),
      ],
    });
  },
  register_node(tx, c) {
    const cap = tx.moveCall({
      target: `${c.walrus.package}::staking::register_candidate`,
      arguments: [
        shared(tx, c.walrus.staking, true),
        tx.pure.string(c.name),
        tx.pure.string(c.networkAddress),
        tx.pure.vector('u8', bytes(c.publicKey)),
        tx.pure.vector('u8', bytes(c.networkPublicKey)),
        tx.pure.vector('u8', bytes(c.proofOfPossession)),
        tx.pure.u16(c.commissionRate),
        tx.pure.u64(c.storagePrice),
        tx.pure.u64(c.writePrice),
        tx.pure.u64(c.nodeCapacity),
      ],
    });
    tx.transferObjects([cap], c.gas.sender);
  },
  stake(tx, c) {
    const coin = walCoin(tx, c.wal);
    const [stake] = tx.splitCoins(coin, [tx.pure.u64(c.amount)]);
    const staked = tx.moveCall({
      target: `${c.walrus.package}::staking::stake_with_pool`,
      arguments: [shared(tx, c.walrus.staking, true), stake, tx.pure.id(c.nodeId)],
    });
    tx.transferObjects([staked], c.gas.sender);
  },
  reserve_and_register(tx, c) {
    const system = shared(tx, c.walrus.system, true);
    const coin = walCoin(tx, c.wal);
    const storage = tx.moveCall({
      target: `${c.walrus.package}::system::reserve_space_bounded`,
      arguments: [system, tx.pure.u64(c.storageSize), tx.pure.u32(c.epochsAhead), coin, tx.pure.u64(c.maxStorageCost)],
    });
    registerBlob(tx, c, system, storage, coin);
  },
  register_on_storage(tx, c) {
    const system = shared(tx, c.walrus.system, true);
    const storage = tx.objectRef(c.storage);
    const coin = walCoin(tx, c.wal);
    registerBlob(tx, c, system, storage, coin);
  },
  certify_blob(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::system::certify_blob`,
      arguments: [
        shared(tx, c.walrus.system, false),
        tx.objectRef(c.blob),
        tx.pure.vector('u8', bytes(c.signature)),
        tx.pure.vector('u8', bytes(c.signersBitmap)),
        tx.pure.vector('u8', bytes(c.message)),
      ],
    });
  },
  delete_blob(tx, c) {
    const storage = tx.moveCall({
      target: `${c.walrus.package}::system::delete_blob`,
      arguments: [shared(tx, c.walrus.system, false), tx.objectRef(c.blob)],
    });
    tx.transferObjects([storage], c.gas.sender);
  },
  extend_blob(tx, c) {
    const system = shared(tx, c.walrus.system, true);
    const blob = tx.objectRef(c.blob);
    const coin = walCoin(tx, c.wal);
    tx.moveCall({
      target: `${c.walrus.package}::system::extend_blob_bounded`,
      arguments: [system, blob, tx.pure.u32(c.epochs), coin, tx.pure.u64(c.maxCost)],
    });
  },
  request_withdraw_stake(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::request_withdraw_stake`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.staked)],
    });
  },
  withdraw_stake(tx, c) {
    const coin = tx.moveCall({
      target: `${c.walrus.package}::staking::withdraw_stake`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.staked)],
    });
    tx.transferObjects([coin], c.gas.sender);
  },
  update_node(tx, c) {
    const staking = shared(tx, c.walrus.staking, true);
    const cap = tx.objectRef(c.cap);
    const target = (f) => `${c.walrus.package}::staking::${f}`;
    if (c.name != null) tx.moveCall({ target: target('set_name'), arguments: [staking, cap, tx.pure.string(c.name)] });
    if (c.networkAddress != null) {
      tx.moveCall({ target: target('set_network_address'), arguments: [staking, cap, tx.pure.string(c.networkAddress)] });
    }
    if (c.networkPublicKey != null) {
      tx.moveCall({
        target: target('set_network_public_key'),
        arguments: [staking, cap, tx.pure.vector('u8', bytes(c.networkPublicKey))],
      });
    }
    if (c.publicKey != null) {
      tx.moveCall({
        target: target('set_public_key'),
        arguments: [
          staking,
          cap,
          tx.pure.vector('u8', bytes(c.publicKey)),
          tx.pure.vector('u8', bytes(c.proofOfPossession)),
        ],
      });
    }
  },
  vote(tx, c) {
    const staking = shared(tx, c.walrus.staking, true);
    const cap = tx.objectRef(c.cap);
    const votes = [
      ['set_storage_price_vote', c.storagePrice],
      ['set_write_price_vote', c.writePrice],
      ['set_node_capacity_vote', c.nodeCapacity],
    ];
    for (const [fn, value] of votes) {
      if (value != null) {
        tx.moveCall({ target: `${c.walrus.package}::staking::${fn}`, arguments: [staking, cap, tx.pure.u64(value)] });
      }
    }
  },
  set_commission(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::set_next_commission`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.cap), tx.pure.u16(c.rate)],
    });
  },
  collect_commission(tx, c) {
    const coin = tx.moveCall({
      target: `${c.walrus.package}::staking::collect_commission`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.cap)],
    });
    tx.transferObjects([coin], c.gas.sender);
  },
  sync_done(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::epoch_sync_done`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.cap), tx.pure.u32(c.epoch), shared(tx, CLOCK, false)],
    });
  },
  deregister(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::deregister`,
      arguments: [shared(tx, c.walrus.staking, true), tx.objectRef(c.cap)],
    });
  },
  voting_end(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::voting_end`,
      arguments: [shared(tx, c.walrus.staking, true), shared(tx, CLOCK, false)],
    });
  },
  initiate_epoch_change(tx, c) {
    tx.moveCall({
      target: `${c.walrus.package}::staking::initiate_epoch_change`,
      arguments: [shared(tx, c.walrus.staking, true), shared(tx, c.walrus.system, true), shared(tx, CLOCK, false)],
    });
  },
};

async function build({ seed, cases }) {
  const key = Ed25519Keypair.fromSecretKey(Uint8Array.from(bytes(seed)));
  const out = [];
  for (const c of cases) {
    const builder = builders[c.kind];
    if (!builder) throw new Error(`unknown transaction kind ${c.kind}`);
    const tx = new Transaction();
    tx.setSender(c.gas.sender);
    tx.setGasPrice(BigInt(c.gas.price));
    tx.setGasBudget(BigInt(c.gas.budget));
    tx.setGasPayment(c.gas.coins);
    builder(tx, c);
    const txBytes = await tx.build();
    const { bytes: b64, signature } = await key.signTransaction(txBytes);
    out.push({ bytes: b64, signature });
  }
  return out;
}

async function verify(pairs) {
  const out = [];
  for (const { bytes: b64, signature } of pairs) {
    try {
      const publicKey = await verifyTransactionSignature(Uint8Array.from(Buffer.from(b64, 'base64')), signature);
      out.push({ signer: publicKey.toSuiAddress() });
    } catch (e) {
      out.push({ error: String(e.message ?? e) });
    }
  }
  return out;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const [command] = process.argv.slice(2);
let result;
if (command === 'build') result = await build(input);
else if (command === 'verify') result = await verify(input);
else {
  console.error('usage: sui-tx-oracle.mjs build|verify < JSON');
  process.exit(2);
}
console.log(JSON.stringify(result));
