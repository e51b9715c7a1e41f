//! The combinator laws, as properties: a `DeferredList`'s results are its inputs' results, in
//! input order, whatever order they fire in (some before the list is built, the others after,
//! shuffled); `gather_results` and `race` decide on the first result to *arrive*.

use proptest::prelude::*;

use deferreds::testing::{capture_unhandled, failure_result_of, success_result_of};
use deferreds::{
    Deferred, DeferredList, Failure, FailureGroup, FirstCallback, FirstError, Resolver,
    gather_results, race,
};

/// Cases per law, as for the chain laws in `tests/laws.rs`: a case takes well under a
/// millisecond unoptimised.
const CASES: u32 = 3000;

fn config() -> ProptestConfig {
    Failure::set_backtrace_capture(false);
    ProptestConfig { cases: CASES, ..ProptestConfig::default() }
}

/// One input: what it fires with (a value, or an error tag), and whether it has fired before
/// the combinator is built.
#[derive(Debug, Clone)]
struct Input {
    result: Result<i64, u8>,
    fired_before: bool,
}

/// Inputs, and the order in which those not fired before are fired afterwards.
fn scenario() -> impl Strategy<Value = (Vec<Input>, Vec<usize>)> {
    (0..10usize).prop_flat_map(|n| {
        let input = (prop_oneof![any::<i64>().prop_map(Ok), (0..3u8).prop_map(Err)], any::<bool>())
            .prop_map(|(result, fired_before)| Input { result, fired_before });
        (proptest::collection::vec(input, n), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

fn failure(tag: u8) -> Failure {
    Failure::msg(format!("E{tag}"))
}

/// Makes the inputs, fires those that fire before, builds the combinator with `build`, then
/// fires the rest in `order`. Returns the combinator's Deferred and the arrival order of the
/// inputs' results (those fired before arrive first, in input order, as the combinator takes
/// them one by one).
fn run<U: Send + 'static>(
    inputs: &[Input],
    order: &[usize],
    build: impl FnOnce(Vec<Deferred<i64>>) -> Deferred<U>,
) -> (Deferred<U>, Vec<usize>) {
    let (ds, rs): (Vec<Deferred<i64>>, Vec<Resolver<i64>>) =
        inputs.iter().map(|_| Deferred::new()).unzip();
    let fire = |i: usize| {
        // After a race is decided, the others were cancelled: their late fire is forgiven.
        let _ = rs[i].resolve(inputs[i].result.map_err(failure));
    };
    let mut arrival: Vec<usize> = (0..inputs.len()).filter(|&i| inputs[i].fired_before).collect();
    arrival.iter().for_each(|&i| fire(i));
    let d = build(ds);
    for &i in order.iter().filter(|&&i| !inputs[i].fired_before) {
        fire(i);
        arrival.push(i);
    }
    (d, arrival)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_lists_results_are_its_inputs_results_in_input_order((inputs, order) in scenario()) {
        let (results, reports) = capture_unhandled(|| {
            let (d, _) = run(&inputs, &order, |ds| DeferredList::new(ds).consume_errors(true).into_deferred());
            success_result_of(d)
        });
        prop_assert!(reports.is_empty());
        let seen: Vec<Result<i64, String>> =
            results.into_iter().map(|r| r.map_err(|f| f.error_message())).collect();
        let expected: Vec<Result<i64, String>> =
            inputs.iter().map(|i| i.result.map_err(|t| format!("E{t}"))).collect();
        prop_assert_eq!(seen, expected);
    }

    #[test]
    fn fire_on_one_callback_gives_the_first_success_to_arrive((inputs, order) in scenario()) {
        let (d, arrival) =
            run(&inputs, &order, |ds| DeferredList::new(ds).consume_errors(true).fire_on_one_callback());
        match success_result_of(d) {
            FirstCallback::Succeeded { index, value } => {
                let first = arrival.iter().copied().find(|&i| inputs[i].result.is_ok());
                prop_assert_eq!(Some(index), first);
                prop_assert_eq!(Ok(value), inputs[index].result);
            }
            FirstCallback::AllFailed(failures) => {
                prop_assert!(inputs.iter().all(|i| i.result.is_err()));
                let seen: Vec<String> = failures.iter().map(Failure::error_message).collect();
                let expected: Vec<String> =
                    inputs.iter().map(|i| format!("E{}", i.result.unwrap_err())).collect();
                prop_assert_eq!(seen, expected);
            }
        }
    }

    #[test]
    fn gather_gives_every_value_in_order_or_the_first_failure_to_arrive((inputs, order) in scenario()) {
        let (d, arrival) = run(&inputs, &order, |ds| gather_results(ds));
        match arrival.iter().copied().find(|&i| inputs[i].result.is_err()) {
            None => {
                let expected: Vec<i64> = inputs.iter().map(|i| i.result.unwrap()).collect();
                prop_assert_eq!(success_result_of(d), expected);
            }
            Some(first) => {
                let failure = failure_result_of(d);
                let error = failure.downcast_ref::<FirstError>().unwrap();
                prop_assert_eq!(error.index, first);
                prop_assert_eq!(error.failure.error_message(), format!("E{}", inputs[first].result.unwrap_err()));
            }
        }
    }

    #[test]
    fn race_gives_the_first_success_to_arrive_or_every_failure_in_order((inputs, order) in scenario()) {
        let (d, arrival) = run(&inputs, &order, race);
        match arrival.iter().copied().find(|&i| inputs[i].result.is_ok()) {
            Some(first) => {
                prop_assert_eq!(success_result_of(d), (first, inputs[first].result.unwrap()));
            }
            None => {
                let failure = failure_result_of(d);
                let group = failure.downcast_ref::<FailureGroup>().unwrap();
                let seen: Vec<String> = group.failures.iter().map(Failure::error_message).collect();
                let expected: Vec<String> =
                    inputs.iter().map(|i| format!("E{}", i.result.unwrap_err())).collect();
                prop_assert_eq!(seen, expected);
            }
        }
    }
}
