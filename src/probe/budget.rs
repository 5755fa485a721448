//! The time an entry has left: a per-step cap (`--timeout`) inside a per-entry deadline
//! (`--deadline`). Every step of every check asks the budget first, so a tarpit or a slow drip
//! ends on time and a deadline cuts the remaining checks short.

use std::time::Duration;

use tokio::time::Instant;

/// The time one entry has left, and the per-step cap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// When the entry's time is up.
    deadline: Instant,
    /// Longest one step may take.
    step: Duration,
}

impl Budget {
    /// A budget of `deadline` from now, at most `step` per step.
    pub fn new(deadline: Duration, step: Duration) -> Self {
        Self {
            deadline: Instant::now() + deadline,
            step,
        }
    }

    /// Time allowed for the next step; `None` once the deadline has passed.
    pub fn step(&self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| left.min(self.step))
    }
}

/// A duration as people write it: `2s`, `500ms`.
pub(crate) fn human_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_caps_each_step_by_what_is_left() {
        let budget = Budget::new(Duration::from_secs(3), Duration::from_secs(2));
        assert_eq!(budget.step(), Some(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert_eq!(budget.step(), Some(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(budget.step(), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(Duration::from_secs(2)), "2s");
        assert_eq!(human_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(millis(Duration::from_micros(2_500)), 2);
    }
}
