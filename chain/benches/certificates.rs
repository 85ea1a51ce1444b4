//! What checking certificates costs a follower: the median time to check one checkpoint's
//! certificate, against decoding the same checkpoint (the work a follower does anyway).
//!
//! `cargo bench -p walrus-chain --bench certificates`
//!
//! 1. Real data: checkpoint 1137 of Mysten's OCS bring-up network (a `.chk`, 9 transactions)
//!    and its four-member committee, as the tests use them.
//! 2. Mainnet's size: a synthetic committee of 100 equal-stake validators, 67 of whom sign an
//!    empty checkpoint (the aggregate key of 67 members is part of every check).
//! 3. A run of 500 linked checkpoints (a batch of the indexer): each certificate checked, against
//!    the newest one settling the run (what followers do: it vouches for the rest by digest).
//! 4. Reading events from their BCS (the bytes the checks hash, which followers now ask for)
//!    against from the event messages, for a `.binpb.zst` of 10 transactions of 3 events each.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use prost::Message as _;
use walrus_chain::checkpoint::Checkpoint;
use walrus_chain::events::EpochChangeStart;
use walrus_chain::testing::{checkpoint, ours, TestValidators};
use walrus_chain::validators::{CertificateCheck, Unsettled};

const RUNS: usize = 101;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .collect(),
    )
}

fn report(what: &str, decode: Duration, check: Duration) {
    println!(
        "{what}: decode {:.1} µs, certificate check {:.1} µs ({:.1}x decode); checks alone: {:.0} checkpoints/s on one core",
        decode.as_secs_f64() * 1e6,
        check.as_secs_f64() * 1e6,
        check.as_secs_f64() / decode.as_secs_f64(),
        1.0 / check.as_secs_f64()
    );
}

fn main() {
    let mut chk = vec![0x01];
    chk.extend(common::checkpoint_1137());
    let real = Checkpoint::from_chk(&chk).unwrap();
    let committee = common::committee();
    let decode = time(|| drop(std::hint::black_box(Checkpoint::from_chk(&chk).unwrap())));
    let mut checker = CertificateCheck::new(committee).unwrap();
    let check = time(|| checker.check(&real).map(drop).unwrap());
    report("checkpoint 1137, 4 validators", decode, check);

    let validators = TestValidators::new(0, 1, 100);
    let mut message = checkpoint(1, Vec::new());
    validators.certify(&mut message, None, 67, None);
    let synthetic = Checkpoint::from_proto(&message).unwrap();
    let decode = time(|| drop(std::hint::black_box(Checkpoint::from_proto(&message).unwrap())));
    let mut checker = CertificateCheck::new(validators.committee()).unwrap();
    let check = time(|| checker.check(&synthetic).map(drop).unwrap());
    report("synthetic, 100 validators, 67 signing", decode, check);

    let validators = TestValidators::new(0, 1, 4);
    let mut previous = None;
    let run: Vec<Checkpoint> = (0..500)
        .map(|n| {
            let mut message = checkpoint(n, Vec::new());
            previous = Some(validators.certify(&mut message, previous, 3, None));
            Checkpoint::from_proto(&message).unwrap()
        })
        .collect();
    let mut checker = CertificateCheck::new(validators.committee()).unwrap();
    let started = Instant::now();
    run.iter().for_each(|c| assert!(!checker.check(c).unwrap()));
    let each = started.elapsed();
    let settled = time(|| {
        run.iter().for_each(|c| checker.take(c).unwrap());
        checker.settle().map_err(|Unsettled { error, .. }| error).unwrap();
    });
    println!(
        "a run of 500: each checked {:.0} ms ({:.0} checkpoints/s), settled by the newest {:.2} ms ({:.0} checkpoints/s), {:.0}x",
        each.as_secs_f64() * 1e3,
        500.0 / each.as_secs_f64(),
        settled.as_secs_f64() * 1e3,
        500.0 / settled.as_secs_f64(),
        each.as_secs_f64() / settled.as_secs_f64()
    );

    let transactions = (0..10).map(|epoch| (0..3).map(|_| ours(&EpochChangeStart { epoch })).collect()).collect();
    // As a full node sends each when asked for it alone.
    let both = checkpoint(7, transactions);
    let (mut with_bcs, mut messages_only) = (both.clone(), both);
    with_bcs.transactions.iter_mut().for_each(|tx| tx.events.as_mut().unwrap().events.clear());
    messages_only.transactions.iter_mut().for_each(|tx| tx.events.as_mut().unwrap().bcs = None);
    let file =
        |m: &sui_rpc::proto::sui::rpc::v2::Checkpoint| zstd::encode_all(m.encode_to_vec().as_slice(), 1).unwrap();
    let (bcs_file, messages_file) = (file(&with_bcs), file(&messages_only));
    let from_bcs = time(|| drop(std::hint::black_box(Checkpoint::from_binpb_zst(&bcs_file).unwrap())));
    let from_messages = time(|| drop(std::hint::black_box(Checkpoint::from_binpb_zst(&messages_file).unwrap())));
    println!(
        "30 events: from BCS {:.1} µs ({} bytes), from messages {:.1} µs ({} bytes), {:.2}x",
        from_bcs.as_secs_f64() * 1e6,
        bcs_file.len(),
        from_messages.as_secs_f64() * 1e6,
        messages_file.len(),
        from_messages.as_secs_f64() / from_bcs.as_secs_f64()
    );
}
