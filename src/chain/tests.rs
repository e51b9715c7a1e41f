use super::*;

fn at() -> &'static Location<'static> {
    Location::caller()
}

#[test]
fn cancel_tells_its_cancellers_answer_from_a_fire_that_raced_it() {
    // The canceller fires the chain itself: its answer is the cancellation's outcome.
    let chain = Chain::pending(
        Some(Box::new(|chain: &Arc<Chain>| {
            chain.fire(Ok(Value::new(9u8)), at()).unwrap();
            Cancelled::Fail
        })),
        at(),
    );
    assert!(chain.cancel(at()));
    assert_eq!(chain.try_take().unwrap().unwrap().take::<u8>(), 9);

    // Another thread fires it while the canceller runs: that fire wins, and the cancel
    // decided nothing.
    let chain = Chain::pending(
        Some(Box::new(|chain: &Arc<Chain>| {
            let other = chain.clone();
            std::thread::spawn(move || other.fire(Ok(Value::new(7u8)), at()).unwrap())
                .join()
                .unwrap();
            Cancelled::Fail
        })),
        at(),
    );
    assert!(!chain.cancel(at()));
    assert_eq!(chain.try_take().unwrap().unwrap().take::<u8>(), 7);

    // Without a canceller it fails at once; a fired chain is left alone.
    let chain = Chain::pending(None, at());
    assert!(chain.cancel(at()));
    assert!(chain.try_take().unwrap().is_err());
    assert!(!chain.cancel(at()));
}

#[test]
fn layout_is_small() {
    // The whole shared allocation of a pending chain: two reference counts and the chain.
    let bytes = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<Chain>();
    assert!(bytes <= 96, "a chain takes {bytes} bytes");
}
