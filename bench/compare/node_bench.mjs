// Node's side of the comparison: the scenarios of README.md on the native Promise.
//
// Usage: node --expose-gc node_bench.mjs [--quick] [--only a,b,...]
//
// Prints one JSON object per line, in the format of the Rust harness (src/main.rs), with
// "impl" set to "node". Method as there: each batch repeats the scenario until it takes about
// BATCH_TARGET; the figure is the median over the rounds of the batch time divided by the work
// in it. Promise callbacks run as microtasks: a batch is an async function that awaits each
// scenario's last promise (that await is the scenario's "read"), so every callback has run
// when its iteration ends.

const BATCH_TARGET_NS = 5_000_000n;
const WARMUP_MS = 500;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? args[onlyAt + 1].split(",") : null;
const wants = (s) => only === null || only.includes(s);
const r = (full) => (quick ? Math.max(3, Math.ceil(full / 4)) : full);
const runtime = `Node ${process.version}, V8 ${process.versions.v8}`;

function emit(scenario, size, unit, times) {
  times.sort((x, y) => x - y);
  const line = {
    impl: "node",
    scenario,
    size,
    variant: "node",
    unit,
    median_ns: Number(times[Math.floor(times.length / 2)].toFixed(2)),
    min_ns: Number(times[0].toFixed(2)),
    rounds: times.length,
    runtime,
  };
  console.log(JSON.stringify(line));
}

// `batch(iters, inputs)` runs the scenario `iters` times and resolves to the elapsed
// nanoseconds (a bigint) of the timed part; `setup()` makes one iteration's inputs beforehand.
async function measure(scenario, size, unit, units, rounds, batch, setup = null) {
  console.error(`node ${scenario} (size ${size}): ${rounds} rounds`);
  const run = (iters) => {
    const inputs = setup ? Array.from({ length: iters }, setup) : null;
    return batch(iters, inputs);
  };
  let iters = 1;
  const deadline = Date.now() + WARMUP_MS;
  for (;;) {
    const t = await run(iters);
    if (t < BATCH_TARGET_NS && iters < 1 << 20) iters *= 2;
    else if (Date.now() >= deadline) break;
  }
  const times = [];
  for (let k = 0; k < rounds; k++) {
    const t = await run(iters);
    times.push(Number(t) / (iters * units));
  }
  emit(scenario, size, unit, times);
}

const now = () => process.hrtime.bigint();
const check = (ok) => {
  if (!ok) throw new Error("wrong result");
};

// (a), (b): ten `x + 1` steps; one function object for every step.
const inc = (x) => x + 1;

async function batchA(iters) {
  const start = now();
  for (let i = 0; i < iters; i++) {
    let resolve;
    let p = new Promise((res) => {
      resolve = res;
    });
    for (let k = 0; k < 10; k++) p = p.then(inc);
    resolve(0);
    check((await p) === 10);
  }
  return now() - start;
}

async function batchB(iters) {
  const start = now();
  for (let i = 0; i < iters; i++) {
    let p = Promise.resolve(0);
    for (let k = 0; k < 10; k++) p = p.then(inc);
    check((await p) === 10);
  }
  return now() - start;
}

// (c): four callbacks, one that throws, a catch that checks the error's class and recovers,
// three more. "Capture off" is `Error.stackTraceLimit = 0` (the error records no stack);
// "on" is V8's default of 10 frames.
class Oops extends Error {}
const throwOops = () => {
  throw new Oops("oops");
};
const trapOops = (e) => {
  if (e instanceof Oops) return 100;
  throw e;
};

function batchC(stackFrames) {
  return async (iters) => {
    const saved = Error.stackTraceLimit;
    Error.stackTraceLimit = stackFrames;
    const start = now();
    for (let i = 0; i < iters; i++) {
      let resolve;
      let p = new Promise((res) => {
        resolve = res;
      });
      for (let k = 0; k < 4; k++) p = p.then(inc);
      p = p.then(throwOops).catch(trapOops);
      for (let k = 0; k < 3; k++) p = p.then(inc);
      resolve(0);
      check((await p) === 103);
    }
    const elapsed = now() - start;
    Error.stackTraceLimit = saved;
    return elapsed;
  };
}

// (d): a tower of N promises, each level's callback returning the level below, fired from the
// leaf.
function batchD(levels) {
  return async (iters) => {
    const start = now();
    for (let i = 0; i < iters; i++) {
      let resolveLeaf;
      const leaf = new Promise((res) => {
        resolveLeaf = res;
      });
      let top = leaf;
      for (let k = 0; k < levels; k++) {
        const inner = top;
        top = Promise.resolve().then(() => inner).then(inc);
      }
      resolveLeaf(0);
      check((await top) === levels);
    }
    return now() - start;
  };
}

// (e): Promise.all (gather_results) and Promise.allSettled (DeferredList) over N pending
// promises made beforehand, resolved in input order.
function inputs(n) {
  return () => {
    const resolvers = new Array(n);
    const promises = new Array(n);
    for (let k = 0; k < n; k++) {
      promises[k] = new Promise((res) => {
        resolvers[k] = res;
      });
    }
    return { promises, resolvers };
  };
}

function batchJoin(join) {
  return async (iters, all) => {
    const start = now();
    for (const { promises, resolvers } of all) {
      const joined = join(promises);
      for (let k = 0; k < resolvers.length; k++) resolvers[k](k);
      check((await joined).length === resolvers.length);
    }
    return now() - start;
  };
}

// Awaiting: an async function awaits a pending promise, which is then resolved.
async function waiter(p) {
  return await p;
}

async function batchAwait(iters) {
  const start = now();
  for (let i = 0; i < iters; i++) {
    let resolve;
    const p = new Promise((res) => {
      resolve = res;
    });
    const task = waiter(p);
    resolve(7);
    check((await task) === 7);
  }
  return now() - start;
}

// Memory: a pending promise with one `then`, its resolve function kept, per item.
function reportMemory() {
  if (typeof globalThis.gc !== "function") {
    console.error("node_bench.mjs: run with --expose-gc for the memory figure; skipped");
    return;
  }
  const n = 100_000;
  const derived = new Array(n).fill(null);
  const resolvers = new Array(n).fill(null);
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  for (let k = 0; k < n; k++) {
    const p = new Promise((res) => {
      resolvers[k] = res;
    });
    derived[k] = p.then(inc);
  }
  globalThis.gc();
  const after = process.memoryUsage().heapUsed;
  const line = {
    impl: "node",
    scenario: "memory",
    size: 1,
    variant: "node",
    unit: "bytes",
    bytes: Math.round((after - before) / n),
    runtime,
  };
  console.log(JSON.stringify(line));
  check(derived.length === n && resolvers.length === n);
}

if (wants("a")) await measure("a", 10, "chain", 1, r(21), batchA);
if (wants("b")) await measure("b", 10, "chain", 1, r(21), batchB);
if (wants("c_off")) await measure("c_off", 10, "chain", 1, r(21), batchC(0));
if (wants("c_on")) await measure("c_on", 10, "chain", 1, r(21), batchC(10));
if (wants("d")) {
  for (const levels of [10_000, 100_000, 1_000_000]) {
    await measure("d", levels, "level", levels, r(levels < 1_000_000 ? 11 : 5), batchD(levels));
  }
}
if (wants("e")) {
  const n = 10_000;
  await measure("e_gather", n, "input", n, r(21), batchJoin((ps) => Promise.all(ps)), inputs(n));
  await measure("e_list", n, "input", n, r(21), batchJoin((ps) => Promise.allSettled(ps)), inputs(n));
}
if (wants("await")) await measure("await", 1, "await", 1, r(21), batchAwait);
if (wants("memory")) reportMemory();
