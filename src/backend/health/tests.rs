use super::*;

/// A backend that comes up is seen within one fast poll interval during the first 30 s.
#[test]
fn the_health_poll_starts_fast_stays_fast_then_slows() {
    let us = |n: u64| Duration::from_nanos(n * 1000);
    let ns = Duration::from_nanos;
    let mut delay = POLL_FIRST;
    let mut schedule = vec![delay];
    for _ in 0..8 {
        delay = next_poll_delay(delay, Duration::from_secs(1));
        schedule.push(delay);
    }
    assert_eq!(
        schedule,
        [
            us(20_000),
            us(30_000),
            us(45_000),
            us(67_500),
            us(101_250),
            us(151_875),
            ns(227_812_500),
            us(250_000),
            us(250_000),
        ]
    );
    let ms = Duration::from_millis;
    assert_eq!(next_poll_delay(ms(250), ms(29_999)), ms(250));
    assert_eq!(next_poll_delay(ms(250), POLL_FAST_WINDOW), ms(375));
    assert_eq!(next_poll_delay(ms(900), Duration::from_secs(40)), ms(1000));
}
