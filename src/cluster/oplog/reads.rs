//! Reads wait until this node has applied what the log held when they came
//! (`Replicator::caught_up`), which takes one question to JetStream: where
//! the stream ends. One question answers every read that came before it was
//! asked, so reads that come while one is on its way wait for the next, and
//! many reads at once (clients reconnecting after a node died, each listing
//! its conversations) cost JetStream a question per round trip, not one each.

use std::time::Duration;

use async_nats::jetstream::stream::Stream;
use tokio::sync::{mpsc, oneshot, watch};

/// How long a read waits for JetStream's answer, then for this node to apply
/// what it names.
pub(super) const CAUGHT_UP_WITHIN: Duration = Duration::from_secs(2);

/// Where reads wait.
pub(super) struct Reads {
    /// Unbounded, but it holds at most one read per session (a session asks
    /// one at a time) or REST request being answered.
    waiting: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Reads {
    /// Starts asking for the reads; `applied`: the last entry this node applied.
    pub fn start(stream: Stream, applied: watch::Receiver<u64>) -> Reads {
        let (waiting, reads) = mpsc::unbounded_channel();
        tokio::spawn(answer(stream, applied, reads));
        Reads { waiting }
    }

    /// Resolves once this node has applied what the log held when it was
    /// called (or JetStream did not say, within [`CAUGHT_UP_WITHIN`]).
    pub fn caught_up(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        // Refused once the node stops: the read is then answered as it is.
        let _ = self.waiting.send(tx);
        rx
    }
}

async fn answer(
    stream: Stream,
    applied: watch::Receiver<u64>,
    mut reads: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    while let Some(first) = reads.recv().await {
        let mut round = vec![first];
        while let Ok(more) = reads.try_recv() {
            round.push(more);
        }
        // Asked after every read of the round came.
        match tokio::time::timeout(CAUGHT_UP_WITHIN, stream.get_info()).await {
            Ok(Ok(info)) => {
                let last = info.state.last_sequence;
                let mut applied = applied.clone();
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(CAUGHT_UP_WITHIN, applied.wait_for(|&a| a >= last))
                            .await;
                    answered(round);
                });
            }
            // No answer (JetStream without a quorum): read what is here, and
            // so do the reads that came meanwhile, which waited as long.
            _ => {
                answered(round);
                while let Ok(more) = reads.try_recv() {
                    let _ = more.send(());
                }
            }
        }
    }
}

fn answered(round: Vec<oneshot::Sender<()>>) {
    for read in round {
        let _ = read.send(());
    }
}
