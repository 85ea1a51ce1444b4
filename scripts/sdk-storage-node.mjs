// Drives our storage nodes with the official TypeScript SDK (@mysten/walrus 1.2.13): its own
// write and read flows (`WalrusClient`, on the in-memory chain of sdk-committee.mjs that
// describes the committee), and its `StorageNodeClient` directly, node by node, for what those
// flows hide (statuses, refusals). The blob is encoded by the SDK's WASM bindings
// (@mysten/walrus-wasm), confirmations are checked and aggregated by the SDK, and every error
// answer must come out as the SDK's error class for it. Run by node/tests/sdk.rs, which starts
// the nodes and feeds them the chain events between the phases:
//
//   node sdk-storage-node.mjs encode CONFIG   the blob ID, and what nodes say of it unregistered
//   node sdk-storage-node.mjs status CONFIG   every node's blob status is `expectStatus`
//   node sdk-storage-node.mjs write CONFIG    refusals; the SDK's write with members outside
//                                             `writeTo` down; what each node then holds; certificates
//   node sdk-storage-node.mjs read CONFIG     after certification: the SDK's read, then status,
//                                             metadata and slivers of every node, decode, certificate
//   node sdk-storage-node.mjs invalid CONFIG  after invalidation: status, data gone, writes refused
//
// CONFIG is JSON: { nShards, epoch, size, seed, deletableObjectId, unknownObjectId, writeTo:
// [member indices], nodes: [{ url, nodeId, publicKey (hex), shards }], expectStatus (the
// SDK's parsed BlobStatus) }. Each phase prints one JSON line on success; any mismatch
// throws, so the process exits non-zero with the reason.
//
// The storage-node client is not in the package's exports, so it is imported by path, as the
// SDK's own client module does internally.

import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const SDK_VERSION = '1.2.13';
const sdk = new URL('./node_modules/@mysten/walrus/', import.meta.url);
const installed = JSON.parse(readFileSync(new URL('package.json', sdk), 'utf8')).version;
if (installed !== SDK_VERSION) {
  throw new Error(`scripts/node_modules holds @mysten/walrus ${installed}, not ${SDK_VERSION}: run npm ci --prefix scripts`);
}
const { StorageNodeClient } = await import(new URL('dist/storage-node/client.mjs', sdk));
const errors = await import(new URL('dist/storage-node/error.mjs', sdk));
const { getWasmBindings } = await import(new URL('dist/wasm.mjs', sdk));
const { BlobMetadata, IntentType, SliverData, StorageConfirmation } = await import(new URL('dist/utils/bcs.mjs', sdk));
const { getSourceSymbols, isQuorum, toPairIndex } = await import(new URL('dist/utils/index.mjs', sdk));
const { bls12381_min_pk_verify_aggregate } = await import('@mysten/walrus-wasm');
const { walrusClientFor } = await import('./sdk-committee.mjs');

const [phase, configText] = process.argv.slice(2);
const config = JSON.parse(configText ?? 'null');
assert.ok(config, 'usage: node sdk-storage-node.mjs encode|status|write|read|invalid CONFIG_JSON');

const wasm = await getWasmBindings();
const client = new StorageNodeClient({ timeout: 20_000 });
const data = blobData(config.size, config.seed);
const encoded = wasm.encodeBlob(config.nShards, data);
const { blobId } = encoded;

/** The blob's bytes: a fixed pseudo-random sequence (32-bit xorshift), so every phase has the same blob. */
function blobData(size, seed) {
  const out = new Uint8Array(size);
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const at = (member) => ({ nodeUrl: config.nodes[member].url });
const publicKey = (member) => Uint8Array.from(Buffer.from(config.nodes[member].publicKey, 'hex'));

/** The sliver pairs a member holds for this blob, as the SDK maps shards to pairs. */
const pairsOf = (member) => config.nodes[member].shards.map((shard) => toPairIndex(shard, blobId, config.nShards));

/** Another member, so none of its shards are `member`'s. */
const otherThan = (member) => (member + 1) % config.nodes.length;

/** Expects `call` to fail with the SDK error class `Class`, HTTP `status` and our `reason`. */
async function rejects(what, call, Class, status, reason) {
  let error;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `${what}: succeeded, expected ${Class.name} ${reason}`);
  assert.ok(error instanceof Class, `${what}: the SDK made ${error?.constructor?.name} of it (${error}), expected ${Class.name}`);
  assert.equal(error.status, status, `${what}: status`);
  assert.equal(error.error?.error?.code, status, `${what}: envelope code`);
  assert.equal(error.error?.error?.details?.[0]?.reason, reason, `${what}: reason in ${JSON.stringify(error.error)}`);
  assert.ok(error.message.startsWith(`${status} `), `${what}: the SDK's message ${JSON.stringify(error.message)}`);
}

/** A success envelope `{success:{code,data}}` with this code. */
function succeeded(what, answer, code) {
  assert.equal(answer?.success?.code, code, `${what}: ${JSON.stringify(answer)}`);
  assert.equal(typeof answer.success.data, 'string', `${what}: data`);
}

/** The confirmation message the SDK expects for the blob, base64, as `certificateFromConfirmations` builds it. */
function expectedMessage(objectId) {
  const blobType = objectId ? { Deletable: { objectId } } : { Permanent: null };
  return StorageConfirmation.serialize({
    intent: IntentType.BLOB_CERT_MSG,
    epoch: config.epoch,
    messageContents: { blobId, blobType },
  }).toBase64();
}

/** Checks a confirmation envelope `{success:{code:200,data:{signed}}}`, then what it signs. */
function checkConfirmation(member, answer, objectId) {
  assert.equal(answer?.success?.code, 200, `confirmation of member ${member}: ${JSON.stringify(answer)}`);
  checkSigned(member, answer.success.data.signed, objectId);
}

/** Checks a node's confirmation as the SDK does before aggregating it: same bytes, valid signature. */
function checkSigned(member, signed, objectId) {
  assert.equal(signed?.serializedMessage, expectedMessage(objectId), `member ${member}'s confirmed message`);
  const verify = wasm.getVerifySignature();
  assert.ok(verify(signed, publicKey(member)), `member ${member}'s confirmation signature`);
  assert.ok(!verify(signed, publicKey(otherThan(member))), `member ${member}'s signature verifies under another key`);
}

/**
 * The SDK's `WalrusClient` on a chain whose committee is the nodes of CONFIG; `down` members
 * are listed at an address where nothing listens, as a node that is off.
 */
function walrusClient(down = []) {
  const members = config.nodes.map((n, member) => ({
    nodeId: n.nodeId,
    address: down.includes(member) ? '127.0.0.1:1' : new URL(n.url).host,
    publicKey: publicKey(member),
    shards: n.shards,
  }));
  return walrusClientFor({ members, epoch: config.epoch, nShards: config.nShards, timeout: 20_000 });
}

/**
 * The SDK's certificate from one confirmation (or null) per member, as it makes it before
 * `certify_blob`: each confirmation checked against the expected bytes and the member's key,
 * the signatures aggregated. Checked again here against the signers' keys, and returned as
 * JSON for the Rust side, which checks it as the contract does.
 */
async function certificate(walrus, confirmations, objectId) {
  const deletable = Boolean(objectId);
  const cert = await walrus.certificateFromConfirmations({ confirmations, blobId, deletable, blobObjectId: objectId });
  assert.equal(Buffer.from(cert.serializedMessage).toString('base64'), expectedMessage(objectId), 'certified message');
  const keys = cert.signers.map(publicKey);
  assert.ok(bls12381_min_pk_verify_aggregate(keys, cert.serializedMessage, cert.signature), 'aggregate signature');
  const weight = cert.signers.reduce((w, m) => w + config.nodes[m].shards.length, 0);
  assert.ok(isQuorum(weight, config.nShards), `signers' weight ${weight} is no quorum of ${config.nShards}`);
  return {
    signers: cert.signers,
    message: Buffer.from(cert.serializedMessage).toString('base64'),
    signature: Buffer.from(cert.signature).toString('base64'),
  };
}

/** What nodes say of a blob ID no event registered. */
async function encode() {
  const node = at(0);
  assert.deepEqual(await client.getBlobStatus({ blobId }, node), { type: 'nonexistent' });
  assert.equal(await client.getMetadataStatus({ blobId }, node), 'nonexistent');
  await rejects(
    'metadata of an unregistered blob',
    () => client.storeBlobMetadata({ blobId, metadata: encoded.metadata }, node),
    errors.BlobNotRegisteredError,
    400,
    'NOT_REGISTERED',
  );
  await rejects(
    'confirmation of an unregistered blob',
    () => client.getPermanentBlobConfirmation({ blobId }, node),
    errors.BlobNotRegisteredError,
    400,
    'NOT_REGISTERED',
  );
  await rejects('reading absent metadata', () => client.getBlobMetadata({ blobId }, node), errors.NotFoundError, 404, 'METADATA_NOT_FOUND');
  return { blobId };
}

/** Refusals of node 0 once the blob is registered, before and around its own uploads. */
async function refusals() {
  const member = 0;
  const node = at(member);
  const [pair] = pairsOf(member);
  const primary = encoded.primarySlivers[pair];
  await rejects(
    'a sliver before the metadata',
    () => client.storeSliver({ blobId, sliverPairIndex: pair, sliverType: 'primary', sliver: primary }, node),
    errors.BadRequestError,
    400,
    'METADATA_NOT_FOUND',
  );
  const other = wasm.encodeBlob(config.nShards, blobData(config.size, config.seed + 1));
  await rejects(
    "another blob's metadata",
    () => client.storeBlobMetadata({ blobId, metadata: other.metadata }, node),
    errors.BadRequestError,
    400,
    'INVALID_METADATA',
  );
  await rejects(
    'confirmation before the slivers',
    () => client.getPermanentBlobConfirmation({ blobId }, node),
    errors.BadRequestError,
    400,
    'MISSING_SLIVERS',
  );
  succeeded('metadata', await client.storeBlobMetadata({ blobId, metadata: encoded.metadata }, node), 201);

  const foreign = pairsOf(otherThan(member))[0];
  const foreignSliver = { blobId, sliverPairIndex: foreign, sliverType: 'primary' };
  await rejects(
    "a sliver of another node's shard",
    () => client.storeSliver({ ...foreignSliver, sliver: encoded.primarySlivers[foreign] }, node),
    errors.BadRequestError,
    400,
    'SHARD_NOT_ASSIGNED',
  );
  await rejects("reading another node's sliver", () => client.getSliver(foreignSliver, node), errors.BadRequestError, 400, 'SHARD_NOT_ASSIGNED');
  await rejects(
    'a sliver under the wrong pair',
    () => client.storeSliver({ blobId, sliverPairIndex: foreign, sliverType: 'primary', sliver: primary }, node),
    errors.BadRequestError,
    400,
    'SLIVER_INDEX_MISMATCH',
  );
  const corrupt = primary.slice();
  corrupt[corrupt.length - 5] ^= 1; // a data byte: the last four are symbol size and index
  await rejects(
    'a corrupted sliver',
    () => client.storeSliver({ blobId, sliverPairIndex: pair, sliverType: 'primary', sliver: corrupt }, node),
    errors.BadRequestError,
    400,
    'INVALID_SLIVER',
  );
  assert.equal(await client.getSliverStatus({ blobId, sliverPairIndex: pair, sliverType: 'primary' }, node), 'nonexistent');
  // The largest sliver body of this committee: symbols of the largest size, `secondarySymbols`
  // of them, plus 128 bytes of framing. At the limit the body is read (and is no sliver); one
  // byte over, it is refused unread.
  const limit = getSourceSymbols(config.nShards).secondarySymbols * 65534 + 128;
  await rejects(
    'zeros up to the body limit',
    () => client.storeSliver({ blobId, sliverPairIndex: pair, sliverType: 'primary', sliver: new Uint8Array(limit) }, node),
    errors.BadRequestError,
    400,
    'INVALID_SLIVER',
  );
  let oversize;
  try {
    await client.storeSliver({ blobId, sliverPairIndex: pair, sliverType: 'primary', sliver: new Uint8Array(limit + 1) }, node);
  } catch (e) {
    oversize = e;
  }
  assert.ok(oversize instanceof errors.StorageNodeAPIError, `an oversize sliver: ${oversize}`);
  assert.equal(oversize.status, 413, `an oversize sliver: ${oversize}`);
  const id = { blobId, sliverPairIndex: pair, sliverType: 'primary' };
  succeeded('a sliver', await client.storeSliver({ ...id, sliver: primary }, node), 201);
  assert.equal(await client.getSliverStatus(id, node), 'stored');
  await rejects(
    'an unregistered deletable object',
    () => client.getDeletableBlobConfirmation({ blobId, objectId: config.unknownObjectId }, node),
    errors.BlobNotRegisteredError,
    400,
    'NOT_REGISTERED',
  );
}

/**
 * After the SDK's write: the member holds metadata and both slivers of each of its pairs,
 * takes them again (200, raw and in the SDK's structured form), and confirms both ways.
 */
async function checkWritten(member) {
  const node = at(member);
  assert.equal(await client.getMetadataStatus({ blobId }, node), 'stored');
  succeeded('metadata again', await client.storeBlobMetadata({ blobId, metadata: encoded.metadata }, node), 200);
  const writes = pairsOf(member).flatMap((pair) =>
    ['primary', 'secondary'].map(async (sliverType) => {
      const sliver = (sliverType === 'primary' ? encoded.primarySlivers : encoded.secondarySlivers)[pair];
      const id = { blobId, sliverPairIndex: pair, sliverType };
      assert.equal(await client.getSliverStatus(id, node), 'stored');
      succeeded(`${sliverType} sliver ${pair} again`, await client.storeSliver({ ...id, sliver }, node), 200);
      // Serialized by the SDK's own BCS this time.
      succeeded(`${sliverType} sliver ${pair} again`, await client.storeSliver({ ...id, sliver: SliverData.parse(sliver) }, node), 200);
    }),
  );
  await Promise.all(writes);
  checkConfirmation(member, await client.getPermanentBlobConfirmation({ blobId }, node));
  const objectId = config.deletableObjectId;
  checkConfirmation(member, await client.getDeletableBlobConfirmation({ blobId, objectId }, node), objectId);
}

/**
 * The SDK's own write flow (`encodeBlob`, `writeEncodedBlobToNodes`, which stores metadata
 * and slivers on every member in parallel and collects confirmations, then
 * `certificateFromConfirmations`), with the members outside `writeTo` down; once permanent,
 * once for the deletable object.
 */
async function write() {
  await refusals();
  const down = [...config.nodes.keys()].filter((member) => !config.writeTo.includes(member));
  const walrus = walrusClient(down);
  const sdkEncoded = await walrus.encodeBlob(data);
  assert.equal(sdkEncoded.blobId, blobId);
  const { metadata, sliversByNode } = sdkEncoded;
  const objectId = config.deletableObjectId;
  const permanent = await walrus.writeEncodedBlobToNodes({ blobId, metadata, sliversByNode, deletable: false });
  const deletable = await walrus.writeEncodedBlobToNodes({ blobId, metadata, sliversByNode, deletable: true, objectId });
  for (const member of config.nodes.keys()) {
    const confirmed = config.writeTo.includes(member);
    assert.equal(permanent[member] !== null, confirmed, `member ${member}'s permanent confirmation`);
    assert.equal(deletable[member] !== null, confirmed, `member ${member}'s deletable confirmation`);
  }
  await Promise.all(config.writeTo.map(checkWritten));
  for (const member of down) {
    await rejects(
      'confirmation of a node without the slivers',
      () => client.getPermanentBlobConfirmation({ blobId }, at(member)),
      errors.BadRequestError,
      400,
      'MISSING_SLIVERS',
    );
  }
  return {
    blobId,
    permanent: await certificate(walrus, permanent),
    deletable: await certificate(walrus, deletable, objectId),
  };
}

/** Polls until `member` holds both slivers of its pairs (blob sync after certification). */
async function synced(member) {
  const deadline = Date.now() + 30_000;
  for (const sliverPairIndex of pairsOf(member)) {
    for (const sliverType of ['primary', 'secondary']) {
      while ((await client.getSliverStatus({ blobId, sliverPairIndex, sliverType }, at(member))) !== 'stored') {
        assert.ok(Date.now() < deadline, `member ${member} did not sync ${sliverType} sliver ${sliverPairIndex}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

/**
 * The blob's status on every node, as the SDK parses it, equal to `config.expectStatus`; the
 * SDK's read flow counts a status only where nodes agree on its exact JSON.
 */
async function status() {
  for (const member of config.nodes.keys()) {
    assert.deepEqual(await client.getBlobStatus({ blobId }, at(member)), config.expectStatus, `member ${member}'s blob status`);
  }
  return { blobId };
}

/**
 * After certification: the SDK's own read flow (`getVerifiedBlobStatus`, `readBlob`), then
 * what that flow fetches, from every node, checked against the encoding.
 */
async function read() {
  await status();
  const members = [...config.nodes.keys()];
  for (const member of members) await synced(member);
  const walrus = walrusClient();
  assert.deepEqual(await walrus.getVerifiedBlobStatus({ blobId }), config.expectStatus, 'the verified blob status');
  assert.deepEqual(await walrus.readBlob({ blobId }), data, "the SDK's readBlob");

  const expectedMetadata = BlobMetadata.serialize(encoded.metadata).toBytes();
  let unencodedLength;
  for (const member of members) {
    const metadata = await client.getBlobMetadata({ blobId }, at(member));
    assert.equal(metadata.blobId, blobId);
    assert.deepEqual(BlobMetadata.serialize(metadata.metadata).toBytes(), expectedMetadata, `member ${member}'s metadata`);
    unencodedLength = metadata.metadata.V1.unencoded_length;
  }

  const primaries = [];
  for (const member of members) {
    for (const sliverPairIndex of pairsOf(member)) {
      for (const sliverType of ['primary', 'secondary']) {
        const got = await client.getSliver({ blobId, sliverPairIndex, sliverType }, at(member));
        const want = (sliverType === 'primary' ? encoded.primarySlivers : encoded.secondarySlivers)[sliverPairIndex];
        assert.deepEqual(got, want, `member ${member}'s ${sliverType} sliver ${sliverPairIndex}`);
        if (sliverType === 'primary') primaries.push(got);
      }
    }
  }
  // Decoding needs any `primarySymbols` primary slivers; take them from the end, so the synced
  // node's slivers are among them.
  const { primarySymbols } = getSourceSymbols(config.nShards);
  // As the SDK's `readBlob`: the length comes from the node's metadata, and the decoded bytes
  // must hash to the blob ID again.
  const decoded = wasm.decodePrimarySlivers(blobId, config.nShards, unencodedLength, primaries.slice(-primarySymbols));
  assert.equal(wasm.computeMetadata(config.nShards, decoded).blobId, blobId, 'the decoded blob re-encodes to its ID');
  assert.deepEqual(decoded, data, 'the decoded blob');

  // Every node now holds its part, so every node confirms.
  const confirmations = await walrus.getStorageConfirmations({ blobId, deletable: false });
  confirmations.forEach((signed, member) => checkSigned(member, signed));
  return { blobId, slivers: primaries.length, permanent: await certificate(walrus, confirmations) };
}

/** After the blob ID is invalidated: the status says so, the data is gone, new data is refused. */
async function invalid() {
  await status();
  for (const member of config.nodes.keys()) {
    const node = at(member);
    await rejects('metadata of an invalid blob', () => client.getBlobMetadata({ blobId }, node), errors.NotFoundError, 404, 'METADATA_NOT_FOUND');
    for (const sliverPairIndex of pairsOf(member)) {
      await rejects(
        'a sliver of an invalid blob',
        () => client.getSliver({ blobId, sliverPairIndex, sliverType: 'primary' }, node),
        errors.NotFoundError,
        404,
        'SLIVER_NOT_FOUND',
      );
    }
    await rejects(
      'storing metadata of an invalid blob',
      () => client.storeBlobMetadata({ blobId, metadata: encoded.metadata }, node),
      errors.BadRequestError,
      400,
      'INVALID_BLOB',
    );
  }
  return { blobId };
}

const phases = { encode, status, write, read, invalid };
assert.ok(phases[phase], `unknown phase ${phase}: ${Object.keys(phases).join(', ')}`);
console.log(JSON.stringify(await phases[phase]()));
