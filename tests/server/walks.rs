//! The random walk (`tests/support/walk/`) on a real server, its tabs
//! WebSockets to it (every other seed's in compact frames), some steps asking several ops at once, and a third of
//! its ops asked through the server's REST or Twilio face over HTTP
//! (`faces.rs`); then the two faces,
//! read over HTTP in small pages, must hold what the engine's own reads
//! hold: the same conversations, messages (Twilio's chat messages only,
//! ascending and descending), participants and each user's conversations,
//! every Twilio page full but the last.

use colloquy::testing::{Rest, TestServer};
use colloquy::{Caller, Clock, Config, Engine};
use fastrand::Rng;
use serde_json::{json, Value};

use crate::faces::{RestFace, TwilioFace};
use crate::twilio::Twilio;
use crate::walk::{seeds, Walk, Walked, START_MS, USERS};

#[actix_rt::test]
async fn a_walk_through_every_face_reads_the_same_on_each() {
    let mut walked = Walked::default();
    for seed in seeds(4_000, 3) {
        let (clock, hand) = Clock::manual(START_MS);
        let mut config = Config::for_tests();
        config.clock = clock;
        // Every step reads each socket up to a ping's answer: far more
        // requests a second than the default limit lets a session ask.
        let server = TestServer::builder()
            .config(config.clone())
            .rate_limit(0)
            .start();
        let engine = server.engine().clone();
        // Every other seed's sockets take compact frames.
        let query = ["", "?encoding=compact"][seed as usize % 2];
        let url = format!("ws://{}/v1/ws{query}", server.addr());
        let nodes = vec![engine.clone()];
        let mut walk = Walk::on_sockets(seed, config, nodes, vec![url], hand).await;
        walk.side_by_side();
        walk.add_face(Box::new(RestFace {
            rest: server.rest(),
            rng: Rng::with_seed(seed),
        }));
        walk.add_face(Box::new(TwilioFace::new(Twilio::new(&server)).await));
        walk.steps(250).await;
        walk.agree().await;
        walked.add(&walk);
        let faces = Faces {
            engine,
            rest: server.rest(),
            twilio: Twilio::new(&server),
            rng: Rng::with_seed(seed),
            seed,
        };
        faces.agree().await;
        drop(walk);
        server.stop();
    }
    walked.were_enough();
    for face in ["rest", "twilio"] {
        let ok = walked.through(face);
        let why = format!("the walks asked too little through {face}: {ok} ok a walk");
        assert!(ok >= 3, "{why}");
    }
}

struct Faces {
    engine: Engine,
    rest: Rest,
    twilio: Twilio,
    rng: Rng,
    seed: u64,
}

impl Faces {
    async fn agree(mut self) {
        let service = json!({"op": "conversation.list"});
        let conversations = self.engine_pages(Caller::Service, service).await;
        let ids: Vec<String> = conversations.iter().map(|c| str_of(&c["id"])).collect();
        let listed = self.twilio_pages("/Conversations").await;
        self.same_sets(
            "Conversations",
            sids("CH", &ids),
            listed.iter().map(|c| str_of(&c["sid"])),
        );
        // Each non-chat participant by its address: (address, CH, MB).
        let mut bound: Vec<(String, String, String)> = Vec::new();
        for c in &ids {
            bound.extend(self.conversation_agrees(c).await);
        }
        for address in ["+15559001", "+15559002"] {
            let path = format!("/ParticipantConversations?Address=%2B{}", &address[1..]);
            let listed = self.twilio_pages(&path).await;
            let pair = |ch: &str, mb: &str| format!("{ch} {mb}");
            let listed = listed.iter().map(|r| {
                pair(
                    &str_of(&r["conversation_sid"]),
                    &str_of(&r["participant_sid"]),
                )
            });
            let want = bound.iter().filter(|(a, ..)| a == address);
            self.same_sets(
                &path,
                want.map(|(_, ch, mb)| pair(ch, mb)).collect(),
                listed,
            );
        }
        for user in USERS {
            let theirs = self
                .engine_pages(caller(user), json!({"op": "conversation.list"}))
                .await;
            let theirs: Vec<String> = theirs.iter().map(|c| str_of(&c["id"])).collect();
            let lists = [
                format!("/Users/{user}/Conversations"),
                format!("/ParticipantConversations?Identity={user}"),
            ];
            for path in lists {
                let listed = self.twilio_pages(&path).await;
                let listed = listed.iter().map(|c| str_of(&c["conversation_sid"]));
                self.same_sets(&path, sids("CH", &theirs), listed);
            }
        }
    }

    /// Checks one conversation's lists through every face; answers its
    /// non-chat participants as (address, CH, MB).
    async fn conversation_agrees(&mut self, c: &str) -> Vec<(String, String, String)> {
        let forward = json!({"op": "message.list", "conversation": c, "direction": "forward"});
        let messages = self.engine_pages(Caller::Service, forward).await;
        // REST: the same messages, log ones included, in the same order.
        let size = self.rng.u32(1..6);
        let rest = self
            .rest_pages(&format!(
                "/v1/conversations/{c}/messages?direction=forward&page_size={size}"
            ))
            .await;
        let keys = |ms: &[Value]| {
            ms.iter()
                .map(|m| (str_of(&m["id"]), m["index"].clone()))
                .collect::<Vec<_>>()
        };
        if keys(&rest) != keys(&messages) {
            self.fail(format!(
                "REST lists {c}'s messages as {:?}, the engine {:?}",
                keys(&rest),
                keys(&messages)
            ));
        }
        // Twilio: the chat messages only, oldest first, and newest first.
        let chat: Vec<(String, Value)> = messages
            .iter()
            .filter(|m| m["subtype"] == "chat")
            .map(|m| (sid("IM", &str_of(&m["id"])), m["index"].clone()))
            .collect();
        let ch = sid("CH", c);
        let twilio = |ms: &[Value]| {
            ms.iter()
                .map(|m| (str_of(&m["sid"]), m["index"].clone()))
                .collect::<Vec<_>>()
        };
        let asc = self
            .twilio_pages(&format!("/Conversations/{ch}/Messages"))
            .await;
        let mut desc = self
            .twilio_pages(&format!("/Conversations/{ch}/Messages?Order=desc"))
            .await;
        desc.reverse();
        if twilio(&asc) != chat || twilio(&desc) != chat {
            self.fail(format!(
                "Twilio lists {c}'s messages as {:?} (asc) and {:?} (desc reversed), the engine's chat messages are {chat:?}",
                twilio(&asc),
                twilio(&desc)
            ));
        }
        let participants = json!({"op": "participant.list", "conversation": c});
        let participants = self.engine_pages(Caller::Service, participants).await;
        let ids: Vec<String> = participants.iter().map(|p| str_of(&p["id"])).collect();
        let listed = self
            .twilio_pages(&format!("/Conversations/{ch}/Participants"))
            .await;
        self.same_sets(
            &format!("{c}'s participants"),
            sids("MB", &ids),
            listed.iter().map(|p| str_of(&p["sid"])),
        );
        let non_chat = participants.iter().filter(|p| p["kind"] == "non_chat");
        non_chat
            .map(|p| {
                let address = str_of(&p["messaging_binding"]["address"]);
                (address, ch.clone(), sid("MB", &str_of(&p["id"])))
            })
            .collect()
    }

    /// Every item of an engine list, through `next_cursor`.
    async fn engine_pages(&self, caller: Caller, request: Value) -> Vec<Value> {
        let mut items = Vec::new();
        let mut ask = request.clone();
        loop {
            let page = match self.engine.request_as(caller.clone(), ask.clone()).await {
                Ok(page) => page,
                Err(e) => self.fail(format!("{request} answered {e}")),
            };
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => ask["cursor"] = json!(cursor),
                None => return items,
            }
        }
    }

    /// Every item of a REST list, through `next_cursor`.
    async fn rest_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut url = path.to_string();
        loop {
            let page = match self.rest.get(&url).await {
                Ok(r) if r.status == 200 => r.body,
                Ok(r) => self.fail(format!("GET {url} answered {} {}", r.status, r.body)),
                Err(e) => self.fail(format!("GET {url} failed: {e}")),
            };
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    let cursor = serde_urlencoded::to_string([("cursor", cursor)]);
                    url = format!("{path}&{}", cursor.unwrap_or_default());
                }
                None => return items,
            }
        }
    }

    /// Every record of a Twilio list read in pages of 1 to 7, following
    /// `meta.next_page_url`: each page full but the last, numbered from 0,
    /// with a previous page's URL on every page but the first. Read again
    /// from the last page back through `meta.previous_page_url`, the pages
    /// hold the same records.
    async fn twilio_pages(&mut self, path: &str) -> Vec<Value> {
        let size = self.rng.usize(1..8);
        let join = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{join}PageSize={size}");
        let mut pages = Vec::new();
        for number in 0.. {
            let (got, meta) = self.twilio_page(path, &url, number, size).await;
            let next = meta["next_page_url"].as_str().map(str::to_string);
            if got.len() != size && (next.is_some() || got.len() > size) {
                self.fail(format!(
                    "page {number} of {path} in pages of {size}: {} records, meta {meta}",
                    got.len()
                ));
            }
            pages.push((got, meta["previous_page_url"].as_str().map(str::to_string)));
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        // Back from the last page.
        let mut back = pages.last().and_then(|(_, previous)| previous.clone());
        for number in (0..pages.len().saturating_sub(1)).rev() {
            let Some(url) = back.take() else {
                self.fail(format!(
                    "page {} of {path} has no previous page",
                    number + 1
                ));
            };
            let (got, meta) = self.twilio_page(path, &url, number, size).await;
            if got != pages[number].0 {
                self.fail(format!(
                    "page {number} of {path} in pages of {size} reads otherwise backwards: {got:?}"
                ));
            }
            back = meta["previous_page_url"].as_str().map(str::to_string);
        }
        pages.into_iter().flat_map(|(records, _)| records).collect()
    }

    /// One page of a Twilio list, which must be page `number` of `size`
    /// records at most, with a previous page's URL unless it is the first.
    async fn twilio_page(
        &self,
        path: &str,
        url: &str,
        number: usize,
        size: usize,
    ) -> (Vec<Value>, Value) {
        let (status, page) = self.twilio.get(url).await;
        if status != 200 {
            self.fail(format!("GET {url} answered {status} {page}"));
        }
        let meta = page["meta"].clone();
        let key = meta["key"].as_str().unwrap_or_default();
        let got = page[key].as_array().cloned().unwrap_or_default();
        let shape_ok = meta["page"] == number
            && meta["page_size"] == size
            && meta["previous_page_url"].is_null() == (number == 0);
        if !shape_ok {
            self.fail(format!(
                "page {number} of {path} in pages of {size}: meta {meta}"
            ));
        }
        (got, meta)
    }

    fn same_sets(&self, what: &str, want: Vec<String>, got: impl Iterator<Item = String>) {
        let (mut want, mut got): (Vec<String>, Vec<String>) = (want, got.collect());
        want.sort();
        got.sort();
        if want != got {
            self.fail(format!("{what}: Twilio lists {got:?}, the engine {want:?}"));
        }
    }

    fn fail(&self, why: String) -> ! {
        panic!(
            "walk seed {} (COLLOQUY_WALK_SEED={}): {why}",
            self.seed, self.seed
        )
    }
}

fn caller(identity: &str) -> Caller {
    Caller::User(colloquy::model::Identity::parse(identity, 256).expect("a valid identity"))
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A Twilio sid: the prefix and the uuid's 32 hex digits.
fn sid(prefix: &str, uuid: &str) -> String {
    format!("{prefix}{}", uuid.replace('-', ""))
}

fn sids(prefix: &str, uuids: &[String]) -> Vec<String> {
    uuids.iter().map(|u| sid(prefix, u)).collect()
}
