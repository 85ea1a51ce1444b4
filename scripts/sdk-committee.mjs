// The on-chain objects the official TypeScript SDK's `WalrusClient` (@mysten/walrus 1.2.13)
// reads to find a committee, served from memory, so its own write and read flows can run
// against storage nodes that no Sui network knows: the `System` and `Staking` objects, their
// versioned inner states (dynamic fields keyed by the version), and each member's
// `StakingPool` with its `StorageNodeInfo`. Bytes are made with the SDK's own BCS types of the
// Walrus contracts; the fields the SDK does not read (prices, accounting, pool balances) are
// left at zero, written as zero bytes after the fields it does read.
//
// Used by sdk-storage-node.mjs; no Sui code runs, nothing is sent anywhere but to the nodes.

import { ClientCache } from '@mysten/sui/client';
import { bcs } from '@mysten/sui/bcs';
import { deriveDynamicFieldID, normalizeSuiObjectId } from '@mysten/sui/utils';

const sdk = new URL('./node_modules/@mysten/walrus/', import.meta.url);
const contract = (file) => import(new URL(`dist/contracts/walrus/${file}.mjs`, sdk));
const { WalrusClient } = await import(new URL('dist/client.mjs', sdk));
const { BlsCommittee } = await contract('bls_aggregate');
const { StakingInnerV1 } = await contract('staking_inner');
const { StorageNodeInfo } = await contract('storage_node');

/** Room for the fields after the ones the SDK reads: every one of them parses from zeros. */
const ZERO_TAIL = new Uint8Array(4096);
const VERSION = 1;

const address = (byte) => `0x${byte.toString(16).padStart(2, '0').repeat(32)}`;
const concat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** `System` and `Staking` share one layout: the object, its version and its package. */
const Versioned = bcs.struct('Versioned', {
  id: bcs.Address,
  version: bcs.u64(),
  package_id: bcs.Address,
  new_package_id: bcs.option(bcs.Address),
});

/** The leading fields of `StakingPool`, up to the node's info. */
const StakingPoolHead = bcs.struct('StakingPoolHead', {
  id: bcs.Address,
  state: bcs.enum('PoolState', { Active: null, Withdrawing: bcs.u32(), Withdrawn: null }),
  voting_params: bcs.struct('VotingParams', { storage_price: bcs.u64(), write_price: bcs.u64(), node_capacity: bcs.u64() }),
  node_info: StorageNodeInfo,
});

/**
 * A `WalrusClient` whose chain is `members` ({ nodeId, address (host:port), publicKey (bytes),
 * shards }) in `epoch`, the epoch change done; nodes are reached over plain HTTP.
 */
export function walrusClientFor({ members, epoch, nShards, timeout }) {
  const pkg = address(0x11);
  const systemId = address(0x51);
  const stakingId = address(0x52);
  const objects = new Map();
  const put = (id, type, content) => objects.set(normalizeSuiObjectId(id), { objectId: id, version: '1', type, content });
  const versioned = (id, type, inner) => {
    put(id, `${pkg}::${type}`, Versioned.serialize({ id, version: VERSION, package_id: pkg, new_package_id: null }).toBytes());
    const key = bcs.u64().serialize(VERSION).toBytes();
    const fieldId = deriveDynamicFieldID(id, 'u64', key);
    put(fieldId, '0x2::dynamic_field::Field', concat(bcs.Address.serialize(fieldId).toBytes(), key, inner, ZERO_TAIL));
  };

  const blsCommittee = BlsCommittee.serialize({
    members: members.map((m) => ({ public_key: { bytes: m.publicKey }, weight: m.shards.length, node_id: m.nodeId })),
    n_shards: nShards,
    epoch,
    total_aggregated_key: { bytes: [] },
  }).toBytes();
  versioned(systemId, 'system::System', blsCommittee);

  const committee = [{ contents: members.map((m) => ({ key: m.nodeId, value: m.shards })) }];
  const stakingInner = StakingInnerV1.serialize({
    n_shards: nShards,
    epoch_duration: 0,
    first_epoch_start: 0,
    pools: { id: address(0x53), size: members.length },
    epoch,
    active_set: { id: address(0x54) },
    next_committee: null,
    committee,
    previous_committee: committee,
    next_epoch_params: null,
    epoch_state: { EpochChangeDone: 0 },
    next_epoch_public_keys: { id: address(0x55) },
  }).toBytes();
  versioned(stakingId, 'staking::Staking', stakingInner);

  members.forEach((m, i) => {
    const head = StakingPoolHead.serialize({
      id: m.nodeId,
      state: { Active: null },
      voting_params: { storage_price: 0, write_price: 0, node_capacity: 0 },
      node_info: {
        name: `node ${i}`,
        node_id: m.nodeId,
        network_address: m.address,
        public_key: { bytes: m.publicKey },
        next_epoch_public_key: null,
        network_public_key: [],
        metadata: { id: address(0x60 + i) },
      },
    }).toBytes();
    put(m.nodeId, `${pkg}::staking_pool::StakingPool`, concat(head, ZERO_TAIL));
  });

  const suiClient = {
    cache: new ClientCache(),
    core: {
      async getObjects({ objectIds }) {
        const found = (id) => objects.get(normalizeSuiObjectId(id)) ?? new Error(`no object ${id} on this chain`);
        return { objects: objectIds.map(found) };
      },
    },
  };
  return new WalrusClient({
    suiClient,
    packageConfig: { systemObjectId: systemId, stakingPoolId: stakingId },
    storageNodeUrlScheme: 'http',
    storageNodeClientOptions: { timeout },
  });
}
