//! Messages: paging both orders, updates, deletes and every refusal.

use colloquy::testing::TestServer;
use serde_json::{json, Value};

use super::*;

#[actix_rt::test]
async fn messages_page_both_orders_and_refuse_what_they_must() {
    let server = TestServer::start();
    let tw = Twilio::new(&server);
    let c = tw.create("/Conversations", &[("UniqueName", "log")]).await;
    let ch = c["sid"].as_str().unwrap();
    let url = format!("/Conversations/{ch}/Messages");
    tw.create(
        &format!("/Conversations/{ch}/Participants"),
        &[("Identity", "alice")],
    )
    .await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { "alice" } else { "backend" };
        let body = format!("m{i}");
        let m = tw
            .create(
                &url,
                &[
                    ("Author", author),
                    ("Body", &body),
                    ("Attributes", r#"{"n":1}"#),
                ],
            )
            .await;
        sent.push(m);
    }
    let system = tw.create(&url, &[("Body", "no author")]).await;
    assert_eq!(system["author"], "system");
    let m0 = &sent[0];
    assert!(m0["sid"].as_str().unwrap().starts_with("IM"));
    assert_eq!(m0["attributes"], r#"{"n":1}"#);
    assert_eq!(m0["media"], Value::Null);
    assert!(
        m0["participant_sid"].as_str().unwrap().starts_with("MB"),
        "alice takes part"
    );
    assert_eq!(sent[1]["participant_sid"], Value::Null, "backend does not");
    for key in [
        "account_sid",
        "conversation_sid",
        "index",
        "author",
        "body",
        "date_created",
        "date_updated",
        "url",
        "delivery",
        "links",
        "content_sid",
    ] {
        assert!(m0.get(key).is_some(), "{key} missing from {m0}");
    }

    // PageSize=2, oldest first: full pages, page counted from 0, meta URLs absolute.
    let (s, p0) = tw.get(&format!("{url}?PageSize=2")).await;
    assert_eq!(s, 200);
    let meta = &p0["meta"];
    assert_eq!(
        (
            meta["key"].as_str(),
            meta["page"].as_u64(),
            meta["page_size"].as_u64()
        ),
        (Some("messages"), Some(0), Some(2))
    );
    assert_eq!(meta["previous_page_url"], Value::Null);
    assert!(meta["first_page_url"]
        .as_str()
        .unwrap()
        .starts_with(&tw.base));
    let next = meta["next_page_url"].as_str().unwrap();
    assert!(
        next.starts_with(&tw.base)
            && next.contains("PageSize=2")
            && next.contains("Page=1")
            && next.contains("PageToken=")
    );
    assert_eq!(p0["messages"].as_array().unwrap().len(), 2);
    let (_, p1) = tw.get(next).await;
    assert_eq!(p1["meta"]["page"], 1);
    assert!(p1["meta"]["previous_page_url"].is_string());
    let asc: Vec<String> = tw
        .all(&format!("{url}?PageSize=2"))
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().into())
        .collect();
    assert_eq!(asc, ["m0", "m1", "m2", "m3", "m4", "no author"]);
    let (_, last) = tw.get(&format!("{url}?PageSize=2&Page=2")).await;
    assert_eq!(
        last["meta"]["next_page_url"],
        Value::Null,
        "null on the last page only"
    );
    let desc: Vec<String> = tw
        .all(&format!("{url}?Order=desc&PageSize=2"))
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().into())
        .collect();
    assert_eq!(desc, ["no author", "m4", "m3", "m2", "m1", "m0"]);
    let (_, desc0) = tw.get(&format!("{url}?Order=desc&PageSize=2")).await;
    assert!(
        desc0["meta"]["next_page_url"]
            .as_str()
            .unwrap()
            .contains("Order=desc"),
        "filters are kept"
    );
    refused(tw.get(&format!("{url}?PageSize=0")).await, 400, 400);
    refused(tw.get(&format!("{url}?PageSize=1001")).await, 400, 400);
    refused(tw.get(&format!("{url}?Order=sideways")).await, 400, 400);
    // Log messages (alice's join) stay hidden; indexes may skip.
    assert!(asc.len() == 6);

    // Fetch by sid or index; update; delete.
    let sid1 = sent[1]["sid"].as_str().unwrap();
    let (s, f) = tw.get(&format!("{url}/{sid1}")).await;
    assert_eq!((s, f["body"].as_str()), (200, Some("m1")));
    let idx = sent[1]["index"].as_u64().unwrap();
    assert_eq!(
        tw.get(&format!("{url}/{idx}")).await.1["sid"],
        sent[1]["sid"]
    );
    let (s, e) = tw
        .post(
            &format!("{url}/{sid1}"),
            &[("Body", "m1 edited"), ("Attributes", r#"{"e":true}"#)],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (e["body"].as_str(), e["attributes"].as_str()),
        (Some("m1 edited"), Some(r#"{"e":true}"#))
    );
    not_emulated(
        tw.post(&format!("{url}/{sid1}"), &[("Author", "mallory")])
            .await,
    );
    let (s, _) = tw
        .post(
            &format!("{url}/{sid1}"),
            &[("Author", "backend"), ("Body", "same author")],
        )
        .await;
    assert_eq!(s, 200, "naming the same author is no change");
    let (s, _) = tw.delete(&format!("{url}/{sid1}")).await;
    assert_eq!(s, 204);
    refused(tw.get(&format!("{url}/{sid1}")).await, 404, 20404);

    // Refusals.
    refused(tw.post(&url, &[("Author", "alice")]).await, 400, 50503);
    refused(
        tw.post(&url, &[("Author", "alice"), ("Body", "")]).await,
        400,
        50503,
    );
    not_emulated(tw.post(&url, &[("MediaSid", "ME123")]).await);
    not_emulated(tw.post(&url, &[("ContentSid", "HX123")]).await);
    refused(
        tw.post(&url, &[("Body", "x"), ("Attributes", "{")]).await,
        400,
        400,
    );
    let big = "x".repeat(16 * 1024 + 1);
    refused(tw.post(&url, &[("Body", &big)]).await, 400, 400);
    refused(
        tw.get(&format!("{url}/IM00000000000000000000000000000000"))
            .await,
        404,
        20404,
    );
    refused(tw.get(&format!("{url}/not-a-message")).await, 404, 20404);
    tw.post(&format!("/Conversations/{ch}"), &[("State", "closed")])
        .await;
    refused(tw.post(&url, &[("Body", "late")]).await, 409, 50377);
    assert_eq!(tw.all(&url).await.len(), 5, "nothing refused was stored");
    let (_, receipts) = tw
        .get(&format!(
            "{url}/{}/Receipts",
            sent[0]["sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(receipts["delivery_receipts"], json!([]));
}
