//! `replay`: the first flight of the MTProto handshake liveness made, replayed byte for byte
//! on a new connection, must not reach a datacenter again, else `mtproto_replay_accepted`
//! (a censor can confirm the proxy by replaying a client's traffic). A replay that fails in
//! any way is the good outcome.

use super::entry::{EntryState, Probing};
use super::{Step, StepFuture};
use crate::model::{Check, Code, Finding, Status};
use crate::probe::budget::Budget;
use crate::probe::dial::{self, ProxyEndpoint};
use crate::probe::mtproto::{Link, res_pq_answers};
use crate::probe::mtproto_conn::{HandshakeInfo, MtprotoConn};

/// The `replay` step.
pub(crate) struct Replay;

impl Step for Replay {
    fn serves(&self) -> &'static [Check] {
        &[Check::Replay]
    }

    fn applies(&self, _: &Probing<'_>, state: &EntryState) -> bool {
        state.result.status == Status::Alive && state.mtproto.is_some()
    }

    fn run<'a>(&'a self, probing: &'a Probing<'_>, state: &'a mut EntryState) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(live) = &state.mtproto else {
                return;
            };
            let dc = probing
                .context
                .telegram
                .as_ref()
                .map_or(2, |setup| setup.dc.id);
            let found = replay(&probing.proxy, &live.info, dc, &probing.budget).await;
            state.result.findings.extend(found);
        })
    }
}

/// `replay`: the same first flight on a new connection must not reach a datacenter.
async fn replay(
    proxy: &ProxyEndpoint,
    info: &HandshakeInfo,
    dc: i16,
    budget: &Budget,
) -> Option<Finding> {
    let step = budget.step()?;
    let (stream, _) = dial::connect(proxy, step).await.ok()?;
    let conn = MtprotoConn::replay(Box::new(stream), info, step)
        .await
        .ok()?;
    let mut link = Link::Proxy(Box::new(conn));
    res_pq_answers(&mut link, dc, step).await.ok()?;
    Some(Finding::new(
        Code::MtprotoReplayAccepted,
        [(
            "reason",
            "a byte-for-byte replay of an earlier handshake reached a datacenter again: a \
             censor can confirm the proxy by replaying a client's traffic",
        )],
    ))
}
