//! The per-session request rate limit (`PROTOCOL.md` §6).

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `rate` tokens a second, holding at most twice that.
/// Abuse is a full second's worth of refusals beyond the burst within one second.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
    window_start: Instant,
    refused_in_window: u32,
}

/// What the limiter says of one request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Refuse,
    Abuse,
}

impl RateLimiter {
    pub fn new(rate: u32, now: Instant) -> Self {
        RateLimiter {
            rate: rate as f64,
            tokens: 2.0 * rate as f64,
            last: now,
            window_start: now,
            refused_in_window: 0,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.rate == 0.0 {
            return Verdict::Allow;
        }
        let burst = 2.0 * self.rate;
        self.tokens = (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        if now - self.window_start >= Duration::from_secs(1) {
            self.window_start = now;
            self.refused_in_window = 0;
        }
        self.refused_in_window += 1;
        if self.refused_in_window as f64 > burst {
            Verdict::Abuse
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(10, t0);
        for _ in 0..20 {
            assert_eq!(l.check(t0), Verdict::Allow);
        }
        assert_eq!(l.check(t0), Verdict::Refuse);
        assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Allow);
        for _ in 0..19 {
            assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Refuse);
        }
        assert_eq!(l.check(t0 + Duration::from_millis(100)), Verdict::Abuse);
        let mut off = RateLimiter::new(0, t0);
        assert!((0..10_000).all(|_| off.check(t0) == Verdict::Allow));
    }
}
