//! The conversation list's `StartDate` and `EndDate` filters.

use colloquy::server::ServerConfig;
use colloquy::testing::TestServer;
use std::time::Duration;

use super::*;

/// Six conversations made a day apart, from 2023-11-14T22:13:20Z: the
/// filters keep those made within their dates (a day from its start or to
/// its end, an instant to the second, both inclusive), newest first as
/// Twilio lists them then, page after page both ways.
#[actix_rt::test]
async fn start_and_end_dates_keep_a_window_newest_first() {
    let (clock, hand) = colloquy::Clock::manual(1_700_000_000_000);
    let config = colloquy::Config {
        clock,
        ..colloquy::Config::for_tests()
    };
    let server = TestServer::with(config, ServerConfig::default());
    let tw = Twilio::new(&server);
    let mut made = Vec::new();
    for day in 0..6 {
        let c = tw
            .create("/Conversations", &[("FriendlyName", &format!("day {day}"))])
            .await;
        made.push(c["sid"].as_str().unwrap().to_string());
        hand.advance(Duration::from_secs(86_400));
    }
    let listed = |query: &'static str| {
        let tw = &tw;
        async move {
            let all = tw.all(&format!("/Conversations?{query}")).await;
            all.iter()
                .map(|c| c["sid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let days = |d: &[usize]| d.iter().map(|&i| made[i].clone()).collect::<Vec<_>>();
    assert_eq!(listed("").await, days(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(listed("StartDate=2023-11-16").await, days(&[5, 4, 3, 2]));
    assert_eq!(listed("EndDate=2023-11-16").await, days(&[2, 1, 0]));
    assert_eq!(
        listed("StartDate=2023-11-15&EndDate=2023-11-17").await,
        days(&[3, 2, 1])
    );
    assert_eq!(
        listed("StartDate=2023-11-16T22:13:20Z").await,
        days(&[5, 4, 3, 2])
    );
    assert_eq!(
        listed("StartDate=2023-11-16T22:13:21Z").await,
        days(&[5, 4, 3])
    );
    assert_eq!(
        listed("EndDate=2023-11-16T22:13:20Z").await,
        days(&[2, 1, 0])
    );
    assert_eq!(listed("EndDate=2023-11-16T22:13:19Z").await, days(&[1, 0]));
    assert_eq!(
        listed("StartDate=2023-11-18&EndDate=2023-11-15").await,
        days(&[])
    );
    // With State too; and pages of two, forward and back.
    let third = format!("/Conversations/{}", made[3]);
    tw.post(&third, &[("State", "closed")]).await;
    assert_eq!(
        listed("StartDate=2023-11-14&State=active").await,
        days(&[5, 4, 2, 1, 0])
    );
    assert_eq!(
        listed("StartDate=2023-11-14&PageSize=2").await,
        days(&[5, 4, 3, 2, 1, 0])
    );
    let (_, first) = tw
        .get("/Conversations?StartDate=2023-11-14&PageSize=2")
        .await;
    let next = first["meta"]["next_page_url"].as_str().unwrap().to_string();
    assert!(next.contains("StartDate=2023-11-14"), "{next}");
    let (_, second) = tw.get(&next).await;
    let back = second["meta"]["previous_page_url"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = tw.get(&back).await;
    assert_eq!(again["conversations"], first["conversations"]);
    refused(tw.get("/Conversations?StartDate=yesterday").await, 400, 400);
    refused(tw.get("/Conversations?EndDate=2023-13-01").await, 400, 400);
}
