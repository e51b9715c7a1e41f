//! The operation language of the differential tests (documented in `docs/conformance.md`),
//! parsed from the JSON that `conformance/generate.py` and `conformance/quirks.py` write into
//! the [`Program`]s of `deferreds::proptest`, which has the same operations and step
//! functions.

use deferreds::proptest::{Attach, Canceller, Op, Program, StepFn, Tag, Value as V};
use serde_json::Value as Json;

/// Which `add_*` method a step is added with, before its functions are parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Callback,
    Errback,
    Both,
    Callbacks,
}

type Parse<T> = Result<T, String>;

fn bad(what: &str, json: &Json) -> String {
    format!("bad {what}: {json}")
}

fn index(json: &Json, n: usize) -> Parse<usize> {
    match json.as_u64() {
        Some(i) if (i as usize) < n => Ok(i as usize),
        _ => Err(bad("Deferred index", json)),
    }
}

fn value(json: &Json) -> Parse<V> {
    match json {
        Json::Null => Ok(None),
        _ => json.as_i64().map(Some).ok_or_else(|| bad("value", json)),
    }
}

fn int(json: &Json) -> Parse<i64> {
    json.as_i64().ok_or_else(|| bad("integer", json))
}

fn tag(json: &Json) -> Parse<Tag> {
    match json.as_str() {
        Some("E0") => Ok(Tag::E0),
        Some("E1") => Ok(Tag::E1),
        Some("E2") => Ok(Tag::E2),
        _ => Err(bad("error tag", json)),
    }
}

fn kind(json: &Json) -> Parse<Kind> {
    match json.as_str() {
        Some("callback") => Ok(Kind::Callback),
        Some("errback") => Ok(Kind::Errback),
        Some("both") => Ok(Kind::Both),
        Some("callbacks") => Ok(Kind::Callbacks),
        _ => Err(bad("step kind", json)),
    }
}

/// `[name, args...]`, with exactly `arity` arguments.
fn parts(json: &Json, arity: usize) -> Parse<(&str, &[Json])> {
    let list = json.as_array().ok_or_else(|| bad("list", json))?;
    let name = list.first().and_then(Json::as_str).ok_or_else(|| bad("operation", json))?;
    let args = &list[1..];
    if args.len() != arity {
        return Err(bad(&format!("{name} with {arity} arguments"), json));
    }
    Ok((name, args))
}

fn arity_of_step(name: &str) -> Option<usize> {
    Some(match name {
        "pass" => 0,
        "add" | "fail" | "recover" | "nest" | "nest_fired" | "nest_failed" | "cancel" => 1,
        "trap" | "fire" => 2,
        _ => return None,
    })
}

/// One step: its kind and its function, or two for `callbacks`.
fn attach(kind: Kind, args: &[Json], n: usize) -> Parse<Attach> {
    let expected = if kind == Kind::Callbacks { 2 } else { 1 };
    if args.len() != expected {
        return Err(format!("{kind:?} takes {expected} step functions, got {}", args.len()));
    }
    let f = step_fn(&args[0], n)?;
    Ok(match kind {
        Kind::Callback => Attach::Callback(f),
        Kind::Errback => Attach::Errback(f),
        Kind::Both => Attach::Both(f),
        Kind::Callbacks => Attach::Callbacks(f, step_fn(&args[1], n)?),
    })
}

fn step_fn(json: &Json, n: usize) -> Parse<StepFn> {
    let name = json.get(0).and_then(Json::as_str).ok_or_else(|| bad("step function", json))?;
    if name == "add_to" {
        let list = json.as_array().expect("checked by get(0)");
        if list.len() < 4 {
            return Err(bad("add_to", json));
        }
        let k = kind(&list[2])?;
        return Ok(StepFn::AddTo(index(&list[1], n)?, Box::new(attach(k, &list[3..], n)?)));
    }
    let arity = arity_of_step(name).ok_or_else(|| bad("step function", json))?;
    let (_, a) = parts(json, arity)?;
    Ok(match name {
        "add" => StepFn::Add(int(&a[0])?),
        "fail" => StepFn::Fail(tag(&a[0])?),
        "recover" => StepFn::Recover(value(&a[0])?),
        "pass" => StepFn::Pass,
        "trap" => StepFn::Trap(tag(&a[0])?, value(&a[1])?),
        "nest" => StepFn::Nest(index(&a[0], n)?),
        "nest_fired" => StepFn::NestFired(value(&a[0])?),
        "nest_failed" => StepFn::NestFailed(tag(&a[0])?),
        "fire" => StepFn::Fire(index(&a[0], n)?, value(&a[1])?),
        "cancel" => StepFn::Cancel(index(&a[0], n)?),
        _ => unreachable!("arity_of_step knows only these"),
    })
}

fn canceller(json: &Json, d: usize, n: usize) -> Parse<Canceller> {
    match json {
        Json::Null => Ok(Canceller::None),
        Json::String(s) if s == "noop" => Ok(Canceller::Noop),
        _ if json.get(0).and_then(Json::as_str) == Some("fire_other") => {
            let (_, a) = parts(json, 2)?;
            match index(&a[0], n)? {
                k if k == d => Err(bad("fire_other of the Deferred itself", json)),
                k => Ok(Canceller::FireOther(k, value(&a[1])?)),
            }
        }
        _ => match parts(json, 1)? {
            ("fire", a) => Ok(Canceller::Fire(value(&a[0])?)),
            ("fail", a) => Ok(Canceller::Fail(tag(&a[0])?)),
            _ => Err(bad("canceller", json)),
        },
    }
}

fn op(json: &Json, n: usize) -> Parse<Op> {
    let name = json.get(0).and_then(Json::as_str).ok_or_else(|| bad("operation", json))?;
    if name == "add" {
        let list = json.as_array().expect("checked by get(0)");
        if list.len() < 4 {
            return Err(bad("add", json));
        }
        let k = kind(&list[2])?;
        return Ok(Op::Add(index(&list[1], n)?, attach(k, &list[3..], n)?));
    }
    let arity = match name {
        "pause" | "unpause" | "cancel" => 1,
        "callback" | "errback" | "chain" => 2,
        _ => return Err(bad("operation", json)),
    };
    let (_, a) = parts(json, arity)?;
    let d = index(&a[0], n)?;
    Ok(match name {
        "callback" => Op::Callback(d, value(&a[1])?),
        "errback" => Op::Errback(d, tag(&a[1])?),
        "pause" => Op::Pause(d),
        "unpause" => Op::Unpause(d),
        "cancel" => Op::Cancel(d),
        "chain" => Op::ChainDeferred(d, index(&a[1], n)?),
        _ => unreachable!("matched above"),
    })
}

/// Parses a program as the golden files write it.
pub(crate) fn parse(json: &Json) -> Parse<Program> {
    let deferreds =
        json["deferreds"].as_array().ok_or_else(|| bad("deferreds", &json["deferreds"]))?;
    let n = deferreds.len();
    let mut program = Program::new(n);
    for (i, d) in deferreds.iter().enumerate() {
        program.deferreds[i] = canceller(&d["canceller"], i, n)?;
    }
    let ops = json["ops"].as_array().ok_or_else(|| bad("ops", &json["ops"]))?;
    program.ops = ops.iter().map(|o| op(o, n)).collect::<Parse<Vec<_>>>()?;
    Ok(program)
}
