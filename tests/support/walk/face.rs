//! Other ways in than a session's frames: a server's REST or Twilio face.
//! A walk given faces asks some of its ops through one of them, and checks
//! what follows as it does for a frame: the answer's code, what it names,
//! and every tab's events.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::{shown, Walk, USERS};

/// What a face sent, and what came back.
pub struct Asked {
    /// The request as the face sent it, for the trail.
    pub sent: String,
    /// The answer in a session's form (`{"ok":true,"data":…}` or
    /// `{"ok":false,"error":{"code":…}}`), or how the face's own wire broke
    /// its contract (a status that is not the code's, a body of the wrong
    /// shape).
    pub answer: Result<Value, String>,
}

pub type Asking<'a> = Pin<Box<dyn Future<Output = Option<Asked>> + 'a>>;

pub trait Face {
    /// How the trail and the tally name it.
    fn name(&self) -> &'static str;

    /// Asks `request`, an op as `user`'s session would send it, in this
    /// face's form; None when the face has no form of it (the walk then
    /// asks it in a frame).
    fn ask<'a>(&'a mut self, user: &'a str, request: &'a Value) -> Asking<'a>;
}

impl Walk {
    /// Gives the walk a face to ask through, now and then.
    pub fn add_face(&mut self, face: Box<dyn Face>) {
        self.faces.push(face);
    }

    /// Asks `request` of `user` through face `face`; false when the face
    /// has no form of it.
    pub(super) async fn through(&mut self, face: usize, user: usize, request: &Value) -> bool {
        let Some(asked) = self.faces[face].ask(USERS[user], request).await else {
            return false;
        };
        let name = self.faces[face].name();
        self.note(format!(
            "{} asks {} through {name}: {}",
            USERS[user],
            shown(&request.to_string()),
            shown(&asked.sent)
        ));
        let answer = match asked.answer {
            Ok(answer) => answer,
            Err(why) => self.fail(why),
        };
        self.note(format!("  answered {}", shown(&answer.to_string())));
        let op = request["op"].as_str().unwrap_or_default();
        self.judge(&format!("{name} {op}"), user, request, &answer, true);
        self.after(None).await;
        true
    }
}
