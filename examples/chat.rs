//! A small terminal chat client.
//!
//! ```sh
//! cargo run --release                                  # the server, in one terminal
//! cargo run --example chat -- --identity alice         # in another
//! cargo run --example chat -- --identity bob           # in a third
//! ```
//!
//! Type `/join lobby` in both, then chat. Keystrokes send typing indicators;
//! typing, presence and messages show up live. `/help` lists the commands.

use std::io::Write;
use std::time::{Duration, Instant};

use colloquy::client::{Client, ClientConfig, ClientEvent, EventKind};
use colloquy::protocol::CreateConversation;
use crossterm::event::{Event as Key, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, terminal, QueueableCommand};
use futures_util::StreamExt;

const HELP: &str = "commands: /list  /join NAME  /dm IDENTITY  /add IDENTITY  /who  /history  /leave  /quit  (anything else is sent)";

struct Chat {
    client: Client,
    me: String,
    current: Option<(String, String)>, // (id, display name)
    typing: Vec<String>,
    input: String,
    raw: bool,
    last_typing_sent: Option<Instant>,
    /// The highest message index shown in the current conversation: history and
    /// live events overlap right after joining.
    shown: Option<u64>,
}

impl Chat {
    /// Prints lines above the prompt, then redraws the prompt.
    fn say(&self, lines: &[String]) {
        let mut out = std::io::stdout();
        if self.raw {
            let _ = out.queue(cursor::MoveToColumn(0));
            let _ = out.queue(terminal::Clear(terminal::ClearType::CurrentLine));
        }
        for l in lines {
            let _ = write!(out, "{l}{}", if self.raw { "\r\n" } else { "\n" });
        }
        self.prompt(&mut out);
    }

    fn prompt(&self, out: &mut std::io::Stdout) {
        if !self.raw {
            let _ = out.flush();
            return;
        }
        let room = self.current.as_ref().map(|c| c.1.as_str()).unwrap_or("-");
        let typing = match self.typing.len() {
            0 => String::new(),
            1 => format!(" ({} is typing…)", self.typing[0]),
            _ => format!(" ({} are typing…)", self.typing.join(", ")),
        };
        let _ = write!(out, "[{room}]{typing} {}> {}", self.me, self.input);
        let _ = out.flush();
    }

    /// What to call a conversation: a direct one after the other person.
    async fn name_of(&self, c: &colloquy::model::Conversation) -> String {
        if c.direct {
            let me = self.client.identity();
            let id = c.id.to_string();
            if let Ok(page) = self.client.conversation(&id).participants(Some(10)).await {
                let other = page
                    .items
                    .iter()
                    .filter_map(|p| p.identity.as_ref())
                    .find(|i| i.as_str() != me);
                if let Some(other) = other {
                    return format!("@{other}");
                }
            }
            return format!("@{me}");
        }
        c.unique_name
            .clone()
            .or(c.friendly_name.clone())
            .unwrap_or_else(|| c.id.to_string())
    }

    fn conv(&self) -> Option<colloquy::client::ConversationHandle> {
        self.current
            .as_ref()
            .map(|(id, _)| self.client.conversation(id))
    }

    async fn open(&mut self, id: String, name: String) {
        self.current = Some((id.clone(), name.clone()));
        self.typing.clear();
        self.shown = None;
        self.say(&[format!("-- now in {name}")]);
        self.history().await;
    }

    async fn history(&mut self) {
        let Some(conv) = self.conv() else {
            return self.say(&["-- join a conversation first (/join NAME)".into()]);
        };
        match conv.messages().page_size(10).fetch().await {
            Ok(page) => {
                let lines: Vec<String> = page.items.iter().map(format_message).collect();
                self.shown = page.items.last().map(|m| m.index).max(self.shown);
                self.say(&lines);
                let _ = conv.mark_read(None).await;
            }
            Err(e) => self.say(&[format!("!! {e}")]),
        }
    }

    async fn command(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or_default();
        let arg = words.next().unwrap_or_default().to_string();
        let result: Result<(), colloquy::client::ClientError> = async {
            match cmd {
                "/quit" => return Ok(()),
                "/help" => self.say(&[HELP.into()]),
                "/list" => {
                    let page = self.client.conversations(Some(50)).await?;
                    let mut lines = Vec::new();
                    for c in &page.items {
                        let name = self.name_of(c).await;
                        lines.push(format!(
                            "  {name}  ({} unread, {} people)",
                            c.unread_messages_count, c.participants_count
                        ));
                    }
                    self.say(&if lines.is_empty() {
                        vec!["  no conversations yet: /join NAME".into()]
                    } else {
                        lines
                    });
                }
                "/join" if !arg.is_empty() => {
                    let c = match self.client.conversation(&arg).join().await {
                        Ok(c) => c,
                        Err(e) if e.code() == Some(colloquy::ErrorCode::NotFound) => {
                            self.client
                                .create_conversation(CreateConversation {
                                    unique_name: Some(arg.clone()),
                                    friendly_name: Some(arg.clone()),
                                    ..Default::default()
                                })
                                .await?
                        }
                        Err(e) => return Err(e),
                    };
                    self.open(c.id.to_string(), arg).await;
                }
                "/dm" if !arg.is_empty() => {
                    let c = self.client.direct(&arg).await?;
                    self.open(c.id.to_string(), format!("@{arg}")).await;
                }
                "/add" if !arg.is_empty() => {
                    if let Some(conv) = self.conv() {
                        conv.add_participant(&arg, None).await?;
                    }
                }
                "/who" => {
                    if let Some(conv) = self.conv() {
                        let people = conv.participants(Some(100)).await?;
                        let names: Vec<String> = people
                            .items
                            .iter()
                            .filter_map(|p| p.identity.as_ref().map(|i| i.to_string()))
                            .collect();
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        let presence = self.client.presence(&refs).await?;
                        let lines = presence
                            .iter()
                            .map(|u| {
                                format!("  {} {}", if u.online { "●" } else { "○" }, u.identity)
                            })
                            .collect::<Vec<_>>();
                        self.say(&lines);
                    }
                }
                "/history" => self.history().await,
                "/leave" => {
                    if let Some(conv) = self.conv() {
                        conv.leave().await?;
                        self.current = None;
                    }
                }
                _ if line.starts_with('/') => self.say(&[HELP.into()]),
                _ => match self.conv() {
                    Some(conv) => {
                        conv.send_message(line).await?;
                        self.last_typing_sent = None;
                    }
                    None => self.say(&["-- join a conversation first (/join NAME)".into()]),
                },
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            self.say(&[format!("!! {e}")]);
        }
        cmd != "/quit"
    }

    async fn on_event(&mut self, e: ClientEvent) {
        let here = self.current.as_ref().map(|c| c.0.as_str()) == e.conversation.as_deref()
            && e.conversation.is_some();
        match e.kind {
            EventKind::MessageAdded(m) if here => {
                self.typing
                    .retain(|t| Some(t.as_str()) != m.author.as_ref().map(|a| a.as_str()));
                if self.shown.is_some_and(|s| m.index <= s) {
                    return;
                }
                self.shown = Some(m.index);
                self.say(&[format_message(&m)]);
                if let Some(conv) = self.conv() {
                    let _ = conv.mark_read(None).await;
                }
            }
            EventKind::MessageAdded(m) if !m.is_log() => {
                let who = m.author.map(|a| a.to_string()).unwrap_or_default();
                self.say(&[format!("-- new message from {who} elsewhere (/list)")]);
            }
            EventKind::TypingStarted { identity } if here => {
                if !self.typing.contains(&identity.to_string()) {
                    self.typing.push(identity.to_string());
                }
                self.say(&[]);
            }
            EventKind::TypingEnded { identity } if here => {
                self.typing.retain(|t| t != identity.as_str());
                self.say(&[]);
            }
            EventKind::UserStatus {
                identity, status, ..
            } => self.say(&[format!("* {identity} is {status}")]),
            EventKind::ConversationAdded(c) if !here => {
                let name = self.name_of(&c).await;
                let how = match (&c.unique_name, c.direct) {
                    (Some(u), _) => format!("/join {u}"),
                    (None, true) => format!("/dm {}", name.trim_start_matches('@')),
                    (None, false) => format!("/join {}", c.id),
                };
                self.say(&[format!("-- you are in {name} ({how})")]);
            }
            EventKind::Reconnected => self.say(&["-- reconnected".into()]),
            _ => {}
        }
    }

    /// A keystroke: edit the line, send typing (at most once a second).
    async fn on_key(&mut self, code: KeyCode, mods: KeyModifiers) -> bool {
        match code {
            KeyCode::Char('c') if mods.contains(KeyModifiers::CONTROL) => return false,
            KeyCode::Enter => {
                let line = std::mem::take(&mut self.input);
                let line = line.trim().to_string();
                // Commands are echoed; messages show when the server confirms them.
                self.say(&if line.starts_with('/') {
                    vec![format!("> {line}")]
                } else {
                    vec![]
                });
                if !line.is_empty() && !self.command(&line).await {
                    return false;
                }
            }
            KeyCode::Backspace => {
                self.input.pop();
                self.say(&[]);
            }
            KeyCode::Char(c) => {
                self.input.push(c);
                self.say(&[]);
                if !self.input.starts_with('/')
                    && self
                        .last_typing_sent
                        .is_none_or(|t| t.elapsed() > Duration::from_secs(1))
                {
                    if let Some(conv) = self.conv() {
                        let _ = conv.typing().start().await;
                        self.last_typing_sent = Some(Instant::now());
                    }
                }
            }
            _ => {}
        }
        true
    }
}

fn format_message(m: &colloquy::model::Message) -> String {
    match (&m.author, &m.body) {
        (Some(a), Some(b)) => format!("[{}] {a}: {b}", m.index),
        (Some(a), None) => format!("[{}] {a} sent {} attachment(s)", m.index, m.media.len()),
        _ => {
            let who = m.details["identity"].as_str().unwrap_or("someone");
            match m.kind {
                Some(colloquy::model::LogKind::ParticipantJoined) => {
                    format!("[{}] -- {who} joined", m.index)
                }
                Some(colloquy::model::LogKind::ParticipantLeft) => {
                    format!("[{}] -- {who} left", m.index)
                }
                Some(colloquy::model::LogKind::ConversationClosed) => {
                    format!("[{}] -- closed by {who}", m.index)
                }
                None => format!("[{}] --", m.index),
            }
        }
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let identity = arg("--identity")
        .ok_or("usage: chat --identity NAME [--url http://127.0.0.1:8080] [--token JWT]")?;
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let mut config = ClientConfig::new(&url).identity(&identity);
    if let Some(t) = arg("--token") {
        config = config.token(&t);
    }
    let client = Client::connect(config)
        .await
        .map_err(|e| format!("{e} (is the server running? cargo run --release)"))?;
    let mut events = client.subscribe();
    let raw = terminal::enable_raw_mode().is_ok();
    let mut chat = Chat {
        client,
        me: identity.clone(),
        current: None,
        typing: Vec::new(),
        input: String::new(),
        raw,
        last_typing_sent: None,
        shown: None,
    };
    chat.say(&[format!("connected as {identity}. {HELP}")]);
    chat.command("/list").await;

    if raw {
        let mut keys = EventStream::new();
        loop {
            tokio::select! {
                Some(e) = events.next() => chat.on_event(e).await,
                key = keys.next() => match key {
                    Some(Ok(Key::Key(k))) if k.kind == KeyEventKind::Press => {
                        if !chat.on_key(k.code, k.modifiers).await {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
        let _ = terminal::disable_raw_mode();
        println!();
    } else {
        // Not a terminal (piped input): plain lines, no typing indicators.
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::stdin().lock().lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        loop {
            tokio::select! {
                Some(e) = events.next() => chat.on_event(e).await,
                line = lines.recv() => match line {
                    Some(l) if !chat.command(l.trim()).await => break,
                    Some(_) => {}
                    None => break,
                },
            }
        }
    }
    chat.client.close();
    Ok(())
}
