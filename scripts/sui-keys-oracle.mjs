#!/usr/bin/env node
// Oracle for the client's Sui keys (client/tests/sui_keys.rs): the official TypeScript SDK
// (npm @mysten/sui, pinned in package.json) derives, encodes and signs; prints one JSON array.
//
//   node scripts/sui-keys-oracle.mjs derive MESSAGE_HEX SEED_HEX...
//       per 32-byte Ed25519 private key: its suiprivkey string, address, public key (Base64),
//       Sui public key (flag || key, Base64), raw signature of MESSAGE (Base64) and
//       personal-message signature (flag || signature || key, Base64)
//   node scripts/sui-keys-oracle.mjs generate N
//       N keys the SDK generates itself: suiprivkey string and address

import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';

const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const b64 = (bytes) => Buffer.from(bytes).toString('base64');

async function derive(messageHex, seeds) {
  const message = hex(messageHex);
  const out = [];
  for (const seed of seeds) {
    const key = Ed25519Keypair.fromSecretKey(hex(seed));
    out.push({
      seed,
      suiprivkey: key.getSecretKey(),
      address: key.toSuiAddress(),
      publicKey: key.getPublicKey().toBase64(),
      suiPublicKey: key.getPublicKey().toSuiPublicKey(),
      signature: b64(await key.sign(message)),
      personalSignature: (await key.signPersonalMessage(message)).signature,
    });
  }
  return out;
}

function generate(n) {
  return Array.from({ length: n }, () => {
    const key = new Ed25519Keypair();
    return { suiprivkey: key.getSecretKey(), address: key.toSuiAddress() };
  });
}

const [command, ...args] = process.argv.slice(2);
let result;
if (command === 'derive' && args.length >= 1) result = await derive(args[0], args.slice(1));
else if (command === 'generate' && args.length === 1) result = generate(Number(args[0]));
else {
  console.error('usage: sui-keys-oracle.mjs derive MESSAGE_HEX SEED_HEX... | generate N');
  process.exit(2);
}
console.log(JSON.stringify(result));
