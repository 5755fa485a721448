//! One more try for a step cut off by a timeout or a reset.
//!
//! A finding accuses a proxy, so it needs observed misbehaviour. A step after liveness (the
//! proxy has just worked) that fails for a reason saying nothing about the proxy (a timeout,
//! a reset, a refused connect: [`super::dial::DialError::transient`]) is run once more. If it
//! is cut off again, its check is recorded as inconclusive with both reasons, never as a
//! finding. Liveness itself is not retried: a dead verdict accuses nobody, and retrying every
//! blackhole would double what a dead list costs.

/// What one attempt at a step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt<T> {
    /// The proxy answered, well or badly: the check judges the answer.
    Answered(T),
    /// Cut off by a timeout or a reset, or no time was left for it.
    CutOff(String),
}

/// Runs `attempt`, and once more when it was cut off. `Err` says why both attempts were.
///
/// (A plain closure returning a future rather than an async closure: the futures of async
/// closures are not yet provably `Send` for every lifetime, which spawned audits need.)
pub(crate) async fn at_most_twice<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let first = match attempt().await {
        Attempt::Answered(answer) => return Ok(answer),
        Attempt::CutOff(reason) => reason,
    };
    match attempt().await {
        Attempt::Answered(answer) => Ok(answer),
        Attempt::CutOff(second) if second == first => Err(format!("{first} (twice)")),
        Attempt::CutOff(second) => Err(format!("{first}; on the retry: {second}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cut_off_step_is_tried_once_more_and_no_more() {
        let mut calls = 0;
        let outcome = at_most_twice(|| {
            calls += 1;
            let calls = calls;
            async move {
                if calls == 1 {
                    Attempt::CutOff("connection reset".to_owned())
                } else {
                    Attempt::Answered(calls)
                }
            }
        })
        .await;
        assert_eq!(outcome, Ok(2));

        let mut calls = 0;
        let outcome: Result<(), String> = at_most_twice(|| {
            calls += 1;
            std::future::ready(Attempt::CutOff(format!("reset {calls}")))
        })
        .await;
        assert_eq!(calls, 2);
        assert_eq!(outcome, Err("reset 1; on the retry: reset 2".to_owned()));

        let mut calls = 0;
        let outcome = at_most_twice(|| {
            calls += 1;
            std::future::ready(Attempt::Answered("an answer, even a bad one, ends it"))
        })
        .await;
        assert_eq!((calls, outcome.is_ok()), (1, true));
        let same: Result<(), String> =
            at_most_twice(|| std::future::ready(Attempt::CutOff("timed out after 2s".to_owned())))
                .await;
        assert_eq!(same, Err("timed out after 2s (twice)".to_owned()));
    }
}
