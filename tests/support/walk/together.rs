//! Ops asked side by side: two to four at once, so that the engine's
//! threads (or a cluster's nodes) take them together; a tab may ask more
//! than one of them (a client that does not wait for each answer). Each answer
//! is checked as a lone one is, then every tab's events: under any
//! interleaving, `seq` still goes up by one in each tab, and at the end
//! every count and list still agrees.

use futures_util::future::join_all;

use super::{shown, Walk, USERS};

impl Walk {
    /// From now on, one step in five asks two to four ops at once.
    pub fn side_by_side(&mut self) {
        self.together = true;
    }

    pub(super) async fn together(&mut self) {
        let n = self.rng.usize(2..=4);
        let tabs: Vec<usize> = (0..n).map(|_| self.rng.usize(..self.tabs.len())).collect();
        let mut asks = Vec::new();
        for tab in tabs {
            let user = self.tabs[tab].user;
            // A replay's events must be told apart from live ones: it is
            // asked alone.
            let request = loop {
                let request = self.request(user);
                if request["op"] != "events.replay" {
                    break request;
                }
            };
            let text = serde_json::to_vec(&request).expect("encodes");
            self.note(format!(
                "{} (tab {tab}) asks, side by side, {}",
                USERS[user],
                shown(&request.to_string())
            ));
            asks.push((tab, request, text));
        }
        // Each tab asks its share at once, all tabs side by side.
        let asking = self.tabs.iter_mut().enumerate().map(|(t, tab)| {
            let mine: Vec<usize> = (0..asks.len()).filter(|&i| asks[i].0 == t).collect();
            let texts: Vec<&[u8]> = mine.iter().map(|&i| asks[i].2.as_slice()).collect();
            async move { mine.into_iter().zip(tab.line.ask_all(&texts).await) }
        });
        let mut answers = vec![String::new(); asks.len()];
        for (i, frame) in join_all(asking).await.into_iter().flatten() {
            answers[i] = frame;
        }
        for ((tab, request, _), frame) in asks.iter().zip(answers) {
            self.answered(*tab, request, &frame, true);
        }
        // Several sends' events come in this step; `written` speaks of one.
        self.written = None;
        self.after(None).await;
    }
}
