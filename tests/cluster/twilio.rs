//! The Twilio face across nodes: what one node's face wrote, another's reads
//! at once, and the rule for SMS bindings (a pair is bound in one open
//! conversation) is decided where each add lands in the log, never from the
//! asking node's view.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::harness::*;
use super::ONE_AT_A_TIME;

/// Three nodes' Twilio faces asked at once to bind one pair, each into its own
/// conversation: one is added, the others are refused with 50416 naming it,
/// and every node lists the pair in that one conversation. Then a node whose
/// view is stale (stopped while another node binds a pair) is asked to bind
/// it elsewhere: refused too, since the rule is decided in the log's order.
/// Last, users made through one node's face, read through the others', and
/// one user made through the three at once: one is made, decided in the
/// log's order too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twilio_face_reads_on_one_node_what_another_wrote() {
    let _one = ONE_AT_A_TIME.lock().await;
    let nats = Nats::start();
    let nodes = [node(&nats, "a"), node(&nats, "b"), node(&nats, "c")];
    let twilio = |on: &Node, method: Method, path: &str, form: String| {
        let request = reqwest::Client::new()
            .request(method, format!("{}/twilio/conversations/v1{path}", on.url))
            .basic_auth("AC00112233445566778899aabbccddeeff", Some("any"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form);
        async move {
            let r = request.send().await.expect("answered");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("JSON"))
        }
    };
    let made = |on: &Node| {
        let created = twilio(on, Method::POST, "/Conversations", String::new());
        async move {
            let (status, c) = created.await;
            assert_eq!(status, 201, "{c}");
            c["sid"].as_str().expect("a sid").to_string()
        }
    };
    let bind = |on: &Node, conversation: &str, address: &str| {
        let form =
            format!("MessagingBinding.Address={address}&MessagingBinding.ProxyAddress=%2B15559999");
        twilio(
            on,
            Method::POST,
            &format!("/Conversations/{conversation}/Participants"),
            form,
        )
    };
    let held_in = |on: &Node, address: &str| {
        let listed = twilio(
            on,
            Method::GET,
            &format!("/ParticipantConversations?Address={address}"),
            String::new(),
        );
        async move {
            let (status, page) = listed.await;
            assert_eq!(status, 200, "{page}");
            let records = page["conversations"].as_array().expect("records").clone();
            records
                .iter()
                .map(|r| r["conversation_sid"].as_str().expect("a sid").to_string())
                .collect::<Vec<_>>()
        }
    };

    for round in 0..5 {
        let address = format!("%2B1555000{round}");
        let mut convs = Vec::new();
        for on in &nodes {
            convs.push(made(on).await);
        }
        let (x, y, z) = tokio::join!(
            bind(&nodes[0], &convs[0], &address),
            bind(&nodes[1], &convs[1], &address),
            bind(&nodes[2], &convs[2], &address),
        );
        let answers = [x, y, z];
        let won: Vec<usize> = (0..3).filter(|&i| answers[i].0 == 201).collect();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        let winner = &convs[won[0]];
        for (status, body) in answers.iter().filter(|a| a.0 != 201) {
            assert_eq!(
                (*status, body["code"].as_u64()),
                (409, Some(50416)),
                "{body}"
            );
            let message = body["message"].as_str().expect("a message");
            assert!(message.ends_with(winner.as_str()), "{message}");
        }
        for on in &nodes {
            assert_eq!(held_in(on, &address).await, [winner.as_str()]);
        }
    }

    // A stale node: b is stopped while a binds the pair; asked meanwhile, b
    // answers once it runs again, after applying a's add before its own.
    let (first, second) = (made(&nodes[0]).await, made(&nodes[1]).await);
    let b = nodes[1].proc.0.id();
    signal("-STOP", b);
    let (status, _) = bind(&nodes[0], &first, "%2B15550100").await;
    assert_eq!(status, 201);
    let ((status, refused), ()) = tokio::join!(bind(&nodes[1], &second, "%2B15550100"), async {
        // Time for the request to reach b's socket while b cannot read it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal("-CONT", b);
    });
    assert_eq!(
        (status, refused["code"].as_u64()),
        (409, Some(50416)),
        "{refused}"
    );
    for on in &nodes {
        assert_eq!(held_in(on, "%2B15550100").await, [first.as_str()]);
    }

    // A user made through one node's face is on the others at once: fetched
    // by identity and by sid, refused when made again, listed.
    for n in 0..12 {
        let identity = format!("user{n}");
        let form = format!("Identity={identity}");
        let (status, made) = twilio(&nodes[n % 3], Method::POST, "/Users", form.clone()).await;
        assert_eq!(status, 201, "{made}");
        let sid = made["sid"].as_str().expect("a sid");
        let next = &nodes[(n + 1) % 3];
        for key in [identity.as_str(), sid] {
            let (status, got) =
                twilio(next, Method::GET, &format!("/Users/{key}"), String::new()).await;
            assert_eq!(
                (status, &got["identity"]),
                (200, &made["identity"]),
                "{got}"
            );
        }
        let (status, again) = twilio(&nodes[(n + 2) % 3], Method::POST, "/Users", form).await;
        assert_eq!(
            (status, again["code"].as_u64()),
            (409, Some(50201)),
            "{again}"
        );
    }
    // One user made through the three faces at once, each naming it its own
    // way: one is made, the others refused, and every node shows the one.
    for round in 0..5 {
        let make = |n: usize| {
            let form = format!("Identity=racer{round}&FriendlyName=from{n}");
            twilio(&nodes[n], Method::POST, "/Users", form)
        };
        let (x, y, z) = tokio::join!(make(0), make(1), make(2));
        let answers = [x, y, z];
        let won: Vec<usize> = (0..3).filter(|&i| answers[i].0 == 201).collect();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        for (status, body) in answers.iter().filter(|a| a.0 != 201) {
            assert_eq!(
                (*status, body["code"].as_u64()),
                (409, Some(50201)),
                "{body}"
            );
        }
        for on in &nodes {
            let path = format!("/Users/racer{round}");
            let (status, got) = twilio(on, Method::GET, &path, String::new()).await;
            assert_eq!(status, 200, "{got}");
            assert_eq!(got["friendly_name"], format!("from{}", won[0]), "{got}");
        }
    }
    // Made through a while b is stopped, behind 1,000 messages, and asked of
    // b meanwhile: b answers once it has applied what the log held when
    // asked, the new user too, not from what it had applied so far.
    let alice = connect(&nodes[0], "alice").await;
    let room = alice
        .request_json(serde_json::json!({"op": "conversation.create"}))
        .await
        .expect("created");
    let room = room["id"].as_str().expect("an id");
    signal("-STOP", b);
    for round in 0..20 {
        let bodies: Vec<String> = (0..50).map(|n| format!("{round}.{n}")).collect();
        futures_util::future::join_all(bodies.iter().map(|body| send(&alice, room, body))).await;
    }
    let (status, _) = twilio(&nodes[0], Method::POST, "/Users", "Identity=late".into()).await;
    assert_eq!(status, 201);
    let ((status, got), ()) = tokio::join!(
        twilio(&nodes[1], Method::GET, "/Users/late", String::new()),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            signal("-CONT", b);
        }
    );
    assert_eq!(
        (status, &got["identity"]),
        (200, &serde_json::json!("late")),
        "{got}"
    );
    // Every node lists the twelve, the five racers, `late`, and alice (known
    // by her session).
    for on in &nodes {
        let (status, page) = twilio(on, Method::GET, "/Users?PageSize=100", String::new()).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["users"].as_array().map(Vec::len), Some(19), "{page}");
    }
}
