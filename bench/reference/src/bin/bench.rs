//! One process, round-robin: the physical limit (phys), the safe reference engine (safe) and
//! deferreds, on the same scenarios.
//!
//!   bench [--reps N] [--target SECONDS] [--treps N] [--quick]   the tables (markdown on
//!                                                                stdout, `R`/`M` lines on stderr)
//!   bench --one NAME --iters N [--depth D]   run one function N times (for perf/callgrind)
//!   bench --list                             names usable with --one
//!
//! Method: each function is calibrated to ~target s per repetition, warmed up once, then
//! repetitions alternate between systems (rotated start), each repetition behind a different
//! live padding allocation; median and minimum per system, ratios to the first row (phys) of
//! the same table.

use deferreds_bench::phys::{self as physical, median_s};
use deferreds_bench::safe::{self, Failure as SFailure, SafeEnum};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

// ---- counting allocator, counting only while ON ----
struct Counting;
static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            LIVE.fetch_add(l.size() as isize, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: forwarding the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if ON.load(Relaxed) {
            LIVE.fetch_sub(l.size() as isize, Relaxed);
        }
        // SAFETY: allocated by System with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if ON.load(Relaxed) {
            LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
            REALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: forwarding the caller's contract.
        unsafe { System.realloc(p, l, new) }
    }
}
#[global_allocator]
static A: Counting = Counting;

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}
impl std::error::Error for Boom {}

// ---- the safe reference engine (src/safe.rs, enum slot) ----
mod safe_sc {
    use super::*;
    type D<T> = safe::Deferred<T, SafeEnum>;

    pub fn chain(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (h, mut d) = D::<u64>::new();
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| x + k);
            }
            h.callback(black_box(0));
            r = d.take_result().ok().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    /// new, fire (the head is consumed), add 10, read.
    pub fn fta(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (h, mut d) = D::<u64>::new();
            h.callback(black_box(0));
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| x + k);
            }
            r = d.take_result().ok().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    pub fn eb(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (h, mut d) = D::<u64>::new();
            for _ in 0..4 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| x + k);
            }
            let k = black_box(1u64);
            d = d.add_callback_try(move |_x| {
                black_box(k);
                Err(SFailure::new(Boom))
            });
            let k = black_box(100u64);
            d = d.add_errback(move |e| if e.is::<Boom>() { Ok(k) } else { Err(e) });
            for _ in 0..4 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| x + k);
            }
            h.callback(black_box(0));
            r = d.take_result().ok().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 104);
        t
    }
    /// d[i]'s callback returns d[i+1] while pending; heads fired outermost first, the
    /// leaf last (unwinds the tower). Total incl. build.
    pub fn tower(depth: usize) -> Duration {
        let t0 = Instant::now();
        let mut heads = Vec::with_capacity(depth);
        let (last, mut next) = D::<u64>::new();
        for _ in 0..depth {
            let (h, d) = D::<()>::new();
            let inner = next;
            next = d.add_callback_deferred(move |()| inner);
            heads.push(h);
        }
        for h in heads.into_iter().rev() {
            h.callback(());
        }
        last.callback(black_box(42));
        let r = next.take_result().ok().unwrap().unwrap();
        let t = t0.elapsed();
        assert_eq!(r, 42);
        t
    }
    pub fn mem() -> (f64, f64, usize) {
        measure(|| {
            let (h, d) = D::<u64>::new();
            let k = black_box(1u64);
            (h, d.add_callback(move |x| x + k))
        })
    }
    /// (e) engine floor: n inputs, one step each, fired one by one, read.
    pub fn one_step(n: u64) -> Duration {
        let n = n as usize;
        let t0 = Instant::now();
        let mut hs = Vec::with_capacity(n);
        let mut ds = Vec::with_capacity(n);
        for _ in 0..n {
            let (h, d) = D::<u64>::new();
            let k = black_box(1u64);
            ds.push(d.add_callback(move |x| x + k));
            hs.push(h);
        }
        for (i, h) in hs.into_iter().enumerate() {
            h.callback(i as u64);
        }
        let mut s = 0;
        for d in ds {
            s += d.take_result().ok().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(s, (n * (n + 1) / 2) as u64);
        t
    }
}

// ---- semantic checks of the safe engine, before measuring ----
fn check_safe() {
    type D<T> = safe::Deferred<T, SafeEnum>;
    let (h, d) = D::<u64>::new();
    let d = d
        .add_callback_try(|_| Err::<u64, _>(SFailure::new(std::fmt::Error)))
        .add_errback(|e| if e.is::<Boom>() { Ok(1) } else { Err(e) })
        .add_callback(|x| x + 1);
    h.callback(0);
    assert!(d.take_result().ok().unwrap().unwrap_err().is::<std::fmt::Error>());
    let (h, d) = D::<u64>::new();
    let (ih, id) = D::<String>::new();
    let d = d
        .add_callback_deferred(move |x| id.add_callback(move |s| format!("{s}{x}")))
        .add_callback(|s: String| [s.len() as u64; 8])
        .add_callback(|a| a.iter().sum::<u64>());
    h.callback(7);
    let d = d.take_result().err().unwrap();
    let d = d.add_callback(|x| x * 2);
    std::thread::spawn(move || ih.callback("abc".to_string())).join().unwrap();
    assert_eq!(d.take_result().ok().unwrap().unwrap(), 64);
    for _ in 0..200 {
        let (h, mut d) = D::<u64>::new();
        let t = std::thread::spawn(move || h.callback(1));
        for i in 0..50 {
            d = if i % 2 == 0 {
                d.add_callback_deferred(|x| D::succeed(x + 1))
            } else {
                d.add_callback(|x| x + 1)
            };
        }
        t.join().unwrap();
        assert_eq!(d.take_result().ok().unwrap().unwrap(), 51);
    }
    for _ in 0..200 {
        let (h, d) = D::<u64>::new();
        let (ih, id) = D::<u64>::new();
        let mut d = d.add_callback_deferred(move |x| id.add_callback(move |y| x + y));
        h.callback(1);
        let t = std::thread::spawn(move || ih.callback(10));
        for _ in 0..20 {
            d = d.add_callback(|x| x + 1);
        }
        t.join().unwrap();
        assert_eq!(d.take_result().ok().unwrap().unwrap(), 31);
    }
    // 1e6-level tower on a 256 KiB stack: no recursion
    std::thread::Builder::new().stack_size(256 << 10).spawn(|| safe_sc::tower(1_000_000)).unwrap().join().unwrap();
}

// ---- deferreds ----
mod crate_sc {
    use super::*;
    use deferreds::{Deferred, Failure, gather_results, succeed};

    pub fn chain(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (mut d, res) = Deferred::<u64>::new();
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            res.callback(black_box(0)).unwrap();
            drop(res);
            r = d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    /// As the crate's own benches/core.rs: closures capture nothing (no box allocation).
    pub fn chain_zst(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (mut d, res) = Deferred::<u64>::new();
            for _ in 0..10 {
                d = d.add_callback(|x| Ok(x + 1));
            }
            res.callback(black_box(0)).unwrap();
            drop(res);
            r = d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    /// new, fire, drop the resolver, add 10 (as the safe engine's (b): its head is consumed).
    pub fn fta(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (mut d, res) = Deferred::<u64>::new();
            res.callback(black_box(0)).unwrap();
            drop(res);
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            r = d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    /// new, fire, keep the resolver alive while adding 10.
    pub fn fta_keep(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (mut d, res) = Deferred::<u64>::new();
            res.callback(black_box(0)).unwrap();
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            r = d.try_result().into_result().unwrap().unwrap();
            drop(res);
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    /// succeed(0), add 10 (the crate's own (b)).
    pub fn fta_succeed(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let mut d = succeed(black_box(0u64));
            for _ in 0..10 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            r = d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 10);
        t
    }
    pub fn eb(n: u64) -> Duration {
        let mut r = 0;
        let t0 = Instant::now();
        for _ in 0..n {
            let (mut d, res) = Deferred::<u64>::new();
            for _ in 0..4 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            let k = black_box(1u64);
            d = d.add_callback(move |_x| -> Result<u64, Failure> {
                black_box(k);
                Err(Failure::new(Boom))
            });
            let k = black_box(100u64);
            d = d.add_errback(move |f| if f.check::<Boom>() { Ok(k) } else { Err(f) });
            for _ in 0..4 {
                let k = black_box(1u64);
                d = d.add_callback(move |x| Ok(x + k));
            }
            res.callback(black_box(0)).unwrap();
            drop(res);
            r = d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(r, 104);
        t
    }
    /// The tower shape of the safe engine's (d): each level's callback returns the next
    /// level's pending tail; heads fired outermost first, the leaf last.
    pub fn tower(depth: usize) -> Duration {
        let t0 = Instant::now();
        let mut heads = Vec::with_capacity(depth);
        let (mut next, last) = Deferred::<u64>::new();
        for _ in 0..depth {
            let (d, r) = Deferred::<()>::new();
            let inner = next;
            next = d.add_callback(move |()| inner);
            heads.push(r);
        }
        for r in heads.into_iter().rev() {
            r.callback(()).unwrap();
        }
        last.callback(black_box(42)).unwrap();
        drop(last);
        let r = next.try_result().into_result().unwrap().unwrap();
        let t = t0.elapsed();
        assert_eq!(r, 42);
        t
    }
    /// The crate's own benches/core.rs d_tower shape (succeed(()).add_callback(inner).map(+1)).
    pub fn tower_own(depth: usize) -> Duration {
        let t0 = Instant::now();
        let (leaf, fire) = Deferred::<u64>::new();
        let mut top = leaf;
        for _ in 0..depth {
            let inner = top;
            top = succeed(()).add_callback(move |()| inner).map(|n| n + 1);
        }
        fire.callback(black_box(0)).unwrap();
        drop(fire);
        let r = top.try_result().into_result().unwrap().unwrap();
        let t = t0.elapsed();
        assert_eq!(r, depth as u64);
        t
    }
    pub fn gather(n: u64) -> Duration {
        let n = n as usize;
        let t0 = Instant::now();
        let mut rs = Vec::with_capacity(n);
        let mut ds = Vec::with_capacity(n);
        for _ in 0..n {
            let (d, r) = Deferred::<u64>::new();
            ds.push(d);
            rs.push(r);
        }
        let g = gather_results(ds);
        for (i, r) in rs.into_iter().enumerate() {
            r.callback(i as u64).unwrap();
        }
        let v = g.try_result().into_result().unwrap().unwrap();
        let t = t0.elapsed();
        assert_eq!(v.len(), n);
        assert_eq!(v[n - 1], n as u64 - 1);
        t
    }
    pub fn one_step(n: u64) -> Duration {
        let n = n as usize;
        let t0 = Instant::now();
        let mut rs = Vec::with_capacity(n);
        let mut ds = Vec::with_capacity(n);
        for _ in 0..n {
            let (d, r) = Deferred::<u64>::new();
            let k = black_box(1u64);
            ds.push(d.add_callback(move |x| Ok(x + k)));
            rs.push(r);
        }
        for (i, r) in rs.into_iter().enumerate() {
            r.callback(i as u64).unwrap();
            drop(r);
        }
        let mut s = 0;
        for d in ds {
            s += d.try_result().into_result().unwrap().unwrap();
        }
        let t = t0.elapsed();
        assert_eq!(s, (n * (n + 1) / 2) as u64);
        t
    }
    pub fn mem() -> (f64, f64, usize) {
        measure(|| {
            let (d, r) = Deferred::<u64>::new();
            let k = black_box(1u64);
            (r, d.add_callback(move |x| Ok(x + k)))
        })
    }
}

// ---- phys extras ----
fn phys_chain_zst(n: u64) -> Duration {
    physical::chain_boxed_zst(n)
}
fn phys_fanout(n: u64) -> Duration {
    physical::fanout_boxed(n)
}

// ---- primitive costs in this process (to read the ratios) ----
fn prim_box(n: u64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        drop(black_box(Box::new(black_box(1u64))));
    }
    t0.elapsed()
}
fn prim_pl(n: u64) -> Duration {
    let m = parking_lot::Mutex::new(0u64);
    let t0 = Instant::now();
    for _ in 0..n {
        *black_box(&m).lock() += 1;
    }
    t0.elapsed()
}
fn prim_arc(n: u64) -> Duration {
    let a = std::sync::Arc::new(0u64);
    let t0 = Instant::now();
    for _ in 0..n {
        drop(black_box(black_box(&a).clone()));
    }
    t0.elapsed()
}
fn prim_get_mut(n: u64) -> Duration {
    let mut a = std::sync::Arc::new(0u64);
    let t0 = Instant::now();
    for _ in 0..n {
        *std::sync::Arc::get_mut(black_box(&mut a)).unwrap() += 1;
    }
    t0.elapsed()
}
fn prim_nothing(n: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        black_box(i);
    }
    t0.elapsed()
}

// ---- timing ----
fn calibrate(f: &dyn Fn(u64) -> Duration, target_s: f64) -> u64 {
    let mut n = 16u64;
    loop {
        let t = f(n).as_secs_f64();
        if t > 0.01 {
            return ((n as f64 * target_s / t) as u64).max(1);
        }
        n *= 4;
    }
}
fn stats(v: &[Duration], per: f64) -> (f64, f64) {
    (median_s(v) / per * 1e9, v.iter().min().unwrap().as_secs_f64() / per * 1e9)
}
fn allocs_per(f: &dyn Fn(u64) -> Duration, n: u64) -> (f64, f64) {
    f(n); // warm (thread-locals, lazy statics)
    ON.store(true, Relaxed);
    let (a0, r0) = (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed));
    f(n);
    let a = (ALLOCS.load(Relaxed) - a0) as f64 / n as f64;
    let r = (REALLOCS.load(Relaxed) - r0) as f64 / n as f64;
    ON.store(false, Relaxed);
    (a, r)
}

type Micro = (&'static str, fn(u64) -> Duration);

fn report(id: &str, title: &str, names: &[&str], r: &[(f64, f64)], allocs: &[(f64, f64)]) {
    println!("\n### {title}");
    println!("| system | median ns | x phys (med) | min ns | x phys (min) | allocs (+reallocs) /op |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (p, pmin) = r[0];
    for (i, n) in names.iter().enumerate() {
        let (m, lo) = r[i];
        let (a, ra) = allocs[i];
        println!(
            "| {n} | {m:.1} | {:.2} | {lo:.1} | {:.2} | {a:.2} (+{ra:.2}) |",
            m / p,
            lo / pmin
        );
    }
    for (i, n) in names.iter().enumerate() {
        let (m, lo) = r[i];
        eprintln!("R\t{id}\t{n}\t{m:.2}\t{lo:.2}\t{:.4}\t{:.4}\t{:.2}\t{:.2}", m / p, lo / pmin, allocs[i].0, allocs[i].1);
    }
}

/// `per` = units of work per call of f(n) divided by n (1 for per-deferred; `size` for (e)).
fn micro_group(id: &str, title: &str, sys: &[Micro], reps: usize, target_s: f64, per_unit: f64, alloc_n: u64) {
    let ns: Vec<u64> = sys.iter().map(|(_, f)| calibrate(f, target_s)).collect();
    for ((_, f), &n) in sys.iter().zip(&ns) {
        f(n);
    }
    let allocs: Vec<(f64, f64)> = sys.iter().map(|(_, f)| {
        let (a, r) = allocs_per(f, alloc_n);
        (a / per_unit, r / per_unit)
    }).collect();
    let mut times = vec![vec![]; sys.len()];
    for rep in 0..reps {
        let pad = black_box(Vec::<u8>::with_capacity(16 * (rep % 11) + 1));
        for j in 0..sys.len() {
            let i = (rep + j) % sys.len();
            times[i].push((sys[i].1)(ns[i]));
        }
        drop(pad);
    }
    let out: Vec<_> = times.iter().zip(&ns).map(|(t, &n)| stats(t, n as f64 * per_unit)).collect();
    let names: Vec<&str> = sys.iter().map(|s| s.0).collect();
    report(id, title, &names, &out, &allocs);
}

type Tower = (&'static str, fn(usize) -> Duration);

fn tower_group(id: &'static str, depth: usize, reps: usize, sys: &'static [Tower]) {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            for (_, f) in sys {
                f(depth);
            }
            let allocs: Vec<(f64, f64)> = sys.iter().map(|(_, f)| {
                ON.store(true, Relaxed);
                let (a0, r0) = (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed));
                f(depth);
                let a = (ALLOCS.load(Relaxed) - a0) as f64 / depth as f64;
                let r = (REALLOCS.load(Relaxed) - r0) as f64 / depth as f64;
                ON.store(false, Relaxed);
                (a, r)
            }).collect();
            let mut tot = vec![vec![]; sys.len()];
            for rep in 0..reps {
                let pad = black_box(Vec::<u8>::with_capacity(16 * (rep % 11) + 1));
                for j in 0..sys.len() {
                    let i = (rep + j) % sys.len();
                    tot[i].push((sys[i].1)(depth));
                }
                drop(pad);
            }
            let names: Vec<&str> = sys.iter().map(|s| s.0).collect();
            let r: Vec<_> = tot.iter().map(|t| stats(t, depth as f64)).collect();
            report(id, &format!("(d) tower {depth} levels, total incl. build [ns/level], 8 MiB stack"), &names, &r, &allocs);
        })
        .unwrap()
        .join()
        .unwrap();
}

fn phys_nested(depth: usize) -> Duration {
    physical::nested_boxed(depth as u64)
}

const N: usize = 100_000;
fn measure<T>(make: impl Fn() -> T) -> (f64, f64, usize) {
    let mut keep: Vec<T> = Vec::with_capacity(N);
    ON.store(true, Relaxed);
    let live0 = LIVE.load(Relaxed);
    let a0 = ALLOCS.load(Relaxed);
    for _ in 0..N {
        keep.push(make());
    }
    let heap = (LIVE.load(Relaxed) - live0) as f64 / N as f64;
    let allocs = (ALLOCS.load(Relaxed) - a0) as f64 / N as f64;
    ON.store(false, Relaxed);
    black_box(&keep);
    drop(keep);
    let inline = std::mem::size_of::<T>();
    (heap + inline as f64, allocs, inline)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}

fn a_sys() -> Vec<Micro> {
    vec![
        ("phys", physical::chain_boxed),
        ("phys, ZST closures (not the reference)", phys_chain_zst),
        ("safe reference engine", safe_sc::chain),
        ("deferreds", crate_sc::chain),
        ("deferreds, ZST closures", crate_sc::chain_zst),
    ]
}
fn b_sys() -> Vec<Micro> {
    vec![
        ("phys", physical::fire_then_add_boxed),
        ("safe reference engine", safe_sc::fta),
        ("deferreds (new, fire, drop resolver, add)", crate_sc::fta),
        ("deferreds (resolver kept)", crate_sc::fta_keep),
        ("deferreds (succeed, add)", crate_sc::fta_succeed),
    ]
}
fn c_sys() -> Vec<Micro> {
    vec![
        ("phys", physical::errback_boxed),
        ("safe reference engine", safe_sc::eb),
        ("deferreds", crate_sc::eb),
    ]
}
static TOWERS: &[Tower] = &[
    ("phys nested_boxed", phys_nested),
    ("safe reference engine", safe_sc::tower),
    ("deferreds", crate_sc::tower),
    ("deferreds, crate's own d_tower shape", crate_sc::tower_own),
];
const E_N: u64 = 10_000;
fn e_phys(n: u64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        phys_fanout(E_N);
    }
    t0.elapsed()
}
macro_rules! e_rep {
    ($name:ident, $f:expr) => {
        fn $name(n: u64) -> Duration {
            let t0 = Instant::now();
            for _ in 0..n {
                $f(E_N);
            }
            t0.elapsed()
        }
    };
}
e_rep!(e_gather, crate_sc::gather);
e_rep!(e_crate_one, crate_sc::one_step);
e_rep!(e_safe_one, safe_sc::one_step);
fn e_sys() -> Vec<Micro> {
    vec![
        ("phys fanout_boxed", e_phys),
        ("deferreds gather_results", e_gather),
        ("deferreds one step per input (no join)", e_crate_one),
        ("safe reference engine one step per input (no join)", e_safe_one),
    ]
}

fn all_named() -> Vec<(String, fn(u64) -> Duration)> {
    let mut v: Vec<(String, fn(u64) -> Duration)> = vec![];
    for (p, s) in [("a", a_sys()), ("b", b_sys()), ("c", c_sys()), ("e", e_sys())] {
        for (n, f) in s {
            v.push((format!("{p}:{n}"), f));
        }
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| args.iter().position(|a| a == k).map(|i| args[i + 1].clone());
    deferreds::Failure::set_backtrace_capture(false);
    if args.iter().any(|a| a == "--list") {
        for (n, _) in all_named() {
            println!("{n}");
        }
        for (n, _) in TOWERS {
            println!("d:{n}");
        }
        return;
    }
    if let Some(name) = arg("--one") {
        let iters: u64 = arg("--iters").map(|s| s.parse().unwrap()).unwrap_or(1000);
        if let Some(t) = name.strip_prefix("d:") {
            let depth: usize = arg("--depth").map(|s| s.parse().unwrap()).unwrap_or(10_000);
            let f = TOWERS.iter().find(|(n, _)| *n == t).expect("name").1;
            let t = std::thread::Builder::new().stack_size(8 << 20).spawn(move || {
                let mut d = Duration::ZERO;
                for _ in 0..iters { d += f(depth); }
                d
            }).unwrap().join().unwrap();
            eprintln!("{name}: {:.1} ns/level", t.as_secs_f64() * 1e9 / (iters as f64 * depth as f64));
            return;
        }
        let f = all_named().into_iter().find(|(n, _)| *n == name).expect("name").1;
        let t = f(iters);
        eprintln!("{name}: {:.1} ns/op", t.as_secs_f64() * 1e9 / iters as f64);
        return;
    }
    check_safe();
    println!("safe-engine checks ok");
    let quick = args.iter().any(|a| a == "--quick");
    let reps: usize = arg("--reps").map(|s| s.parse().unwrap()).unwrap_or(if quick { 9 } else { 31 });
    let target: f64 = arg("--target").map(|s| s.parse().unwrap()).unwrap_or(if quick { 0.02 } else { 0.03 });
    let treps: usize = arg("--treps").map(|s| s.parse().unwrap()).unwrap_or(if quick { 5 } else { 11 });
    println!("loadavg at start: {}", loadavg());
    println!("reps {reps}, ~{target} s per repetition; tower reps {treps}{}", if quick { " (quick)" } else { "" });
    micro_group("p", "primitives, tight loop [ns/op] (ratio column meaningless)", &[
        ("empty loop", prim_nothing),
        ("Box::new(u64) + drop", prim_box),
        ("parking_lot lock+unlock", prim_pl),
        ("Arc clone+drop", prim_arc),
        ("Arc::get_mut", prim_get_mut),
    ], reps, target / 2.0, 1.0, 1000);
    micro_group("a", "(a) new + 10 cb + fire + read [ns/deferred]", &a_sys(), reps, target, 1.0, 1000);
    micro_group("b", "(b) fire, then add 10 cb, read [ns/deferred]", &b_sys(), reps, target, 1.0, 1000);
    micro_group("c", "(c) errback path, 10 steps [ns/deferred]", &c_sys(), reps, target, 1.0, 1000);
    println!("\nloadavg: {}", loadavg());
    tower_group("d1e4", 10_000, treps * 2, TOWERS);
    tower_group("d1e5", 100_000, treps, TOWERS);
    micro_group("e", "(e) 10,000 inputs, per input [ns/input]", &e_sys(), (reps / 2).max(3), target * 2.0, E_N as f64, 2);

    println!("\n### mem: pending Deferred<u64> + 1 callback, 100k [bytes each] (requested heap + inline handle)");
    println!("| system | bytes | x phys | allocs | inline |");
    println!("|---|---:|---:|---:|---:|");
    let phys = measure(|| {
        let k = black_box(1u64);
        let mut v: Vec<Box<dyn FnOnce(u64) -> u64>> = Vec::new();
        v.push(Box::new(move |x| x + k));
        v
    });
    let rows: Vec<(&str, (f64, f64, usize))> = vec![
        ("phys", phys),
        ("safe reference engine", safe_sc::mem()),
        ("deferreds", crate_sc::mem()),
    ];
    for (n, (b, al, inl)) in &rows {
        println!("| {n} | {b:.0} | {:.2} | {al:.1} | {inl} |", b / phys.0);
        eprintln!("M\t{n}\t{b:.1}\t{al:.2}\t{inl}");
    }
    println!("\nloadavg at end: {}", loadavg());
}
