//! The group coordinator: the classic Kafka consumer-group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup), with Kafka's states and errors.
//!
//! ```text
//! Empty ──join──▶ PreparingRebalance ──all known members rejoined, or rebalance timeout──▶ CompletingRebalance
//!   ▲                 ▲      (members that did not rejoin are dropped; generation + 1;       │ leader's SyncGroup
//!   │                 │       the leader gets every member's metadata)                        ▼ (assignments)
//!   └─ last member ───┴──────── join of a new/changed member, leave, session timeout ─────── Stable
//! ```
//! Waiting JoinGroup and SyncGroup requests park on a oneshot channel and are answered when the group moves on.
//! Offsets are not kept here: OffsetCommit asks [`Coordinator::validate_commit`] and then goes to the Backend.

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::server::err;

/// A JoinGroup answer.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's id and metadata for the chosen protocol: only in the leader's answer.
    pub members: Vec<(String, Bytes)>,
}

impl JoinOutcome {
    fn error(code: i16, member_id: &str) -> Self {
        JoinOutcome { error: code, generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// A SyncGroup answer.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    fn error(code: i16) -> Self {
        SyncOutcome { error: code, ..Default::default() }
    }
}

/// A JoinGroup request as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub client_id: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance { deadline: Instant },
    CompletingRebalance,
    Stable,
}

struct Member {
    /// Order of first join: the oldest member becomes leader when the leader is gone.
    seq: u64,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    /// Last heard of + session timeout.
    expires: Instant,
    protocols: Vec<(String, Bytes)>,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    assignment: Bytes,
}

struct Group {
    state: State,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
}

impl Group {
    fn new() -> Self {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
        }
    }

    /// Moves to PreparingRebalance (if not there yet); pending SyncGroups learn of it.
    fn prepare_rebalance(&mut self, now: Instant) {
        if matches!(self.state, State::PreparingRebalance { .. }) {
            return;
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
        self.state = State::PreparingRebalance { deadline: now + timeout };
        for m in self.members.values_mut() {
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(err::REBALANCE_IN_PROGRESS));
            }
        }
    }

    /// Completes the join phase when every member has rejoined (or `force`: the rebalance timeout passed, and
    /// members that did not rejoin are dropped).
    fn try_complete_join(&mut self, now: Instant, force: bool) {
        if !matches!(self.state, State::PreparingRebalance { .. }) {
            return;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        if !all_joined && !force {
            return;
        }
        self.members.retain(|id, m| {
            let keep = m.join_waiter.is_some();
            if !keep {
                tracing::info!(member = %id, "dropped from group: did not rejoin within the rebalance timeout");
            }
            keep
        });
        self.generation += 1;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.leader = None;
            self.protocol_name = None;
            self.protocol_type = None;
            return;
        }
        if !self.leader.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            self.leader = self.members.iter().min_by_key(|(_, m)| m.seq).map(|(id, _)| id.clone());
        }
        let leader = self.leader.clone().unwrap_or_default();
        // The first of the leader's protocols (its preference order) that every member supports.
        let candidates: Vec<String> = self
            .members
            .get(&leader)
            .map(|m| m.protocols.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        let chosen = candidates
            .into_iter()
            .find(|p| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == p)));
        self.protocol_name = chosen.clone();
        let chosen = chosen.unwrap_or_default();
        let metadata: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let md = m.protocols.iter().find(|(n, _)| *n == chosen).map(|(_, b)| b.clone()).unwrap_or_default();
                (id.clone(), md)
            })
            .collect();
        self.state = State::CompletingRebalance;
        let generation = self.generation;
        for (id, m) in self.members.iter_mut() {
            m.expires = now + m.session_timeout;
            m.assignment = Bytes::new();
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome {
                    error: err::NONE,
                    generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader { metadata.clone() } else { Vec::new() },
                });
            }
        }
        tracing::info!(generation, members = self.members.len(), %leader, "group rebalanced");
    }

    /// Removes a member (left or timed out) and rebalances the rest.
    fn remove_member(&mut self, id: &str, now: Instant) {
        let Some(mut m) = self.members.remove(id) else { return };
        if let Some(w) = m.join_waiter.take() {
            let _ = w.send(JoinOutcome::error(err::UNKNOWN_MEMBER_ID, id));
        }
        if let Some(w) = m.sync_waiter.take() {
            let _ = w.send(SyncOutcome::error(err::UNKNOWN_MEMBER_ID));
        }
        match self.state {
            State::PreparingRebalance { .. } => self.try_complete_join(now, false),
            State::Empty => {}
            State::CompletingRebalance | State::Stable => {
                if self.members.is_empty() {
                    self.generation += 1;
                    self.state = State::Empty;
                    self.leader = None;
                    self.protocol_name = None;
                    self.protocol_type = None;
                } else {
                    self.prepare_rebalance(now);
                    self.try_complete_join(now, false);
                }
            }
        }
    }

    fn sync_outcome(&self, assignment: Bytes) -> SyncOutcome {
        SyncOutcome {
            error: err::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }
}

/// Either an answer now, or a channel the answer will come on.
pub enum Pending<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// All consumer groups of the server.
pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    next_seq: AtomicU64,
    min_session_timeout: Duration,
    max_session_timeout: Duration,
}

impl Coordinator {
    pub fn new(min_session_timeout: Duration, max_session_timeout: Duration) -> Self {
        Coordinator {
            groups: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(1),
            min_session_timeout,
            max_session_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        // A panic while holding the lock cannot leave a group half-changed in a way later calls trip on more than
        // a stale waiter; keep serving.
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn join(&self, req: JoinRequest, now: Instant) -> Pending<JoinOutcome> {
        if req.session_timeout < self.min_session_timeout || req.session_timeout > self.max_session_timeout {
            return Pending::Now(JoinOutcome::error(err::INVALID_SESSION_TIMEOUT, &req.member_id));
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return Pending::Now(JoinOutcome::error(err::INCONSISTENT_GROUP_PROTOCOL, &req.member_id));
        }
        let mut groups = self.lock();
        let group = groups.entry(req.group.clone()).or_insert_with(Group::new);
        if !group.members.is_empty() {
            let same_type = group.protocol_type.as_deref() == Some(req.protocol_type.as_str());
            let common = req.protocols.iter().any(|(p, _)| {
                group.members.iter().filter(|(id, _)| **id != req.member_id).all(|(_, m)| m.protocols.iter().any(|(n, _)| n == p))
            });
            if !same_type || !common {
                return Pending::Now(JoinOutcome::error(err::INCONSISTENT_GROUP_PROTOCOL, &req.member_id));
            }
        }
        let member_id = if req.member_id.is_empty() {
            let n = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let client = if req.client_id.is_empty() { "consumer" } else { req.client_id.as_str() };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            format!("{client}-{n}-{:08x}", nanos ^ (n as u32).wrapping_mul(2_654_435_761))
        } else if !group.members.contains_key(&req.member_id) {
            return Pending::Now(JoinOutcome::error(err::UNKNOWN_MEMBER_ID, &req.member_id));
        } else {
            req.member_id.clone()
        };

        // A known follower rejoining a stable group with unchanged protocols gets the current generation back.
        if group.state == State::Stable && group.leader.as_deref() != Some(member_id.as_str()) {
            if let Some(m) = group.members.get_mut(&member_id) {
                if m.protocols == req.protocols {
                    m.expires = now + m.session_timeout;
                    return Pending::Now(JoinOutcome {
                        error: err::NONE,
                        generation: group.generation,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        leader: group.leader.clone().unwrap_or_default(),
                        member_id,
                        members: Vec::new(),
                    });
                }
            }
        }

        let (tx, rx) = oneshot::channel();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
            seq,
            session_timeout: req.session_timeout,
            rebalance_timeout: req.rebalance_timeout,
            expires: now + req.session_timeout,
            protocols: Vec::new(),
            join_waiter: None,
            sync_waiter: None,
            assignment: Bytes::new(),
        });
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.expires = now + req.session_timeout;
        member.protocols = req.protocols;
        if let Some(old) = member.join_waiter.replace(tx) {
            let _ = old.send(JoinOutcome::error(err::UNKNOWN_MEMBER_ID, &member_id));
        }
        group.protocol_type = Some(req.protocol_type);
        group.prepare_rebalance(now);
        group.try_complete_join(now, false);
        Pending::Later(rx)
    }

    pub fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Pending<SyncOutcome> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Pending::Now(SyncOutcome::error(err::UNKNOWN_MEMBER_ID));
        };
        if !group.members.contains_key(member_id) {
            return Pending::Now(SyncOutcome::error(err::UNKNOWN_MEMBER_ID));
        }
        if generation != group.generation {
            return Pending::Now(SyncOutcome::error(err::ILLEGAL_GENERATION));
        }
        match group.state {
            State::Empty => Pending::Now(SyncOutcome::error(err::UNKNOWN_MEMBER_ID)),
            State::PreparingRebalance { .. } => Pending::Now(SyncOutcome::error(err::REBALANCE_IN_PROGRESS)),
            State::Stable => {
                let a = group.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                Pending::Now(group.sync_outcome(a))
            }
            State::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(member_id) {
                    m.expires = now + m.session_timeout;
                    m.sync_waiter = Some(tx);
                }
                if group.leader.as_deref() == Some(member_id) {
                    let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    group.state = State::Stable;
                    let outcome = group.sync_outcome(Bytes::new());
                    for (id, m) in group.members.iter_mut() {
                        m.assignment = given.remove(id).unwrap_or_default();
                        if let Some(w) = m.sync_waiter.take() {
                            let _ = w.send(SyncOutcome { assignment: m.assignment.clone(), ..outcome.clone() });
                        }
                    }
                }
                Pending::Later(rx)
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str, now: Instant) -> i16 {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else { return err::UNKNOWN_MEMBER_ID };
        let (state, current) = (group.state, group.generation);
        let Some(m) = group.members.get_mut(member_id) else { return err::UNKNOWN_MEMBER_ID };
        if generation != current {
            return err::ILLEGAL_GENERATION;
        }
        m.expires = now + m.session_timeout;
        match state {
            State::PreparingRebalance { .. } => err::REBALANCE_IN_PROGRESS,
            State::Empty => err::UNKNOWN_MEMBER_ID,
            State::CompletingRebalance | State::Stable => err::NONE,
        }
    }

    /// LeaveGroup of one member; its error code.
    pub fn leave(&self, group_id: &str, member_id: &str, now: Instant) -> i16 {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else { return err::UNKNOWN_MEMBER_ID };
        if !group.members.contains_key(member_id) {
            return err::UNKNOWN_MEMBER_ID;
        }
        tracing::info!(group = group_id, member = member_id, "member left the group");
        group.remove_member(member_id, now);
        err::NONE
    }

    /// May this member commit offsets for the group now? (An OffsetCommit with generation -1 and no member id is
    /// a standalone commit, allowed while the group has no members.)
    pub fn validate_commit(&self, group_id: &str, generation: i32, member_id: &str, now: Instant) -> i16 {
        let mut groups = self.lock();
        let group = match groups.get_mut(group_id) {
            Some(g) => g,
            None => {
                return if generation < 0 && member_id.is_empty() { err::NONE } else { err::UNKNOWN_MEMBER_ID };
            }
        };
        if generation < 0 && member_id.is_empty() {
            return if group.members.is_empty() { err::NONE } else { err::UNKNOWN_MEMBER_ID };
        }
        let (state, current) = (group.state, group.generation);
        let Some(m) = group.members.get_mut(member_id) else { return err::UNKNOWN_MEMBER_ID };
        if generation != current {
            return err::ILLEGAL_GENERATION;
        }
        match state {
            State::Stable => {
                m.expires = now + m.session_timeout;
                err::NONE
            }
            State::PreparingRebalance { .. } | State::CompletingRebalance => err::REBALANCE_IN_PROGRESS,
            State::Empty => err::UNKNOWN_MEMBER_ID,
        }
    }

    /// Expires members whose session timed out and completes rebalances whose timeout passed. Called every
    /// ~100 ms by the server.
    pub fn tick(&self, now: Instant) {
        let mut groups = self.lock();
        for (name, group) in groups.iter_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| m.join_waiter.is_none() && m.expires <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                tracing::info!(group = %name, member = %id, "member session timed out");
                group.remove_member(&id, now);
            }
            if let State::PreparingRebalance { deadline } = group.state {
                if deadline <= now {
                    group.try_complete_join(now, true);
                }
            }
        }
        groups.retain(|_, g| !(g.state == State::Empty && g.members.is_empty() && g.generation == 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(10);

    fn join(c: &Coordinator, member: &str, proto: &str, now: Instant) -> Pending<JoinOutcome> {
        c.join(
            JoinRequest {
                group: "g".into(),
                member_id: member.into(),
                client_id: "c".into(),
                session_timeout: S,
                rebalance_timeout: S,
                protocol_type: "consumer".into(),
                protocols: vec![(proto.into(), Bytes::from_static(b"md"))],
            },
            now,
        )
    }

    fn later<T>(p: Pending<T>) -> oneshot::Receiver<T> {
        match p {
            Pending::Later(rx) => rx,
            Pending::Now(_) => panic!("expected to wait"),
        }
    }

    fn now<T>(p: Pending<T>) -> T {
        match p {
            Pending::Now(v) => v,
            Pending::Later(_) => panic!("expected an answer now"),
        }
    }

    #[test]
    fn two_members_rebalance_and_leave() {
        let c = Coordinator::new(Duration::from_millis(100), Duration::from_secs(60));
        let t = Instant::now();
        let a = later(join(&c, "", "range", t)).try_recv().unwrap();
        assert_eq!((a.error, a.generation), (err::NONE, 1));
        assert_eq!(a.leader, a.member_id);
        assert_eq!(a.members.len(), 1);
        let s = later(c.sync("g", 1, &a.member_id, vec![(a.member_id.clone(), Bytes::from_static(b"P0"))], t))
            .try_recv()
            .unwrap();
        assert_eq!(&s.assignment[..], b"P0");
        assert_eq!(c.heartbeat("g", 1, &a.member_id, t), err::NONE);

        // b joins: waits until a rejoins; a learns of the rebalance from its heartbeat.
        let mut rx_b = later(join(&c, "", "range", t));
        assert!(rx_b.try_recv().is_err());
        assert_eq!(c.heartbeat("g", 1, &a.member_id, t), err::REBALANCE_IN_PROGRESS);
        assert_eq!(c.validate_commit("g", 1, &a.member_id, t), err::REBALANCE_IN_PROGRESS);
        let a2 = later(join(&c, &a.member_id, "range", t)).try_recv().unwrap();
        let b = rx_b.try_recv().unwrap();
        assert_eq!((a2.generation, b.generation), (2, 2));
        assert_eq!(a2.leader, a.member_id, "the leader stays");
        assert_eq!(a2.members.len(), 2);
        assert!(b.members.is_empty());
        assert_eq!(c.heartbeat("g", 1, &a.member_id, t), err::ILLEGAL_GENERATION);
        let mut sb = later(c.sync("g", 2, &b.member_id, vec![], t));
        assert!(sb.try_recv().is_err(), "a follower waits for the leader");
        let sa = later(c.sync("g", 2, &a.member_id, vec![(b.member_id.clone(), Bytes::from_static(b"P0"))], t))
            .try_recv()
            .unwrap();
        assert!(sa.assignment.is_empty());
        assert_eq!(&sb.try_recv().unwrap().assignment[..], b"P0");

        // The leader leaves: b must rejoin alone, becomes leader, generation 3.
        assert_eq!(c.leave("g", &a.member_id, t), err::NONE);
        assert_eq!(c.heartbeat("g", 2, &a.member_id, t), err::UNKNOWN_MEMBER_ID);
        assert_eq!(c.heartbeat("g", 2, &b.member_id, t), err::REBALANCE_IN_PROGRESS);
        let b3 = later(join(&c, &b.member_id, "range", t)).try_recv().unwrap();
        assert_eq!((b3.generation, b3.leader.as_str()), (3, b.member_id.as_str()));
    }

    #[test]
    fn session_timeout_and_rebalance_timeout() {
        let c = Coordinator::new(Duration::from_millis(100), Duration::from_secs(60));
        let t = Instant::now();
        let a = later(join(&c, "", "range", t)).try_recv().unwrap();
        later(c.sync("g", 1, &a.member_id, vec![], t)).try_recv().unwrap();
        let b = {
            let mut rx = later(join(&c, "", "range", t));
            // a never rejoins: after the rebalance timeout b completes alone.
            c.tick(t + S / 2);
            assert!(rx.try_recv().is_err());
            c.tick(t + S + Duration::from_millis(1));
            rx.try_recv().unwrap()
        };
        assert_eq!((b.generation, b.leader.as_str()), (2, b.member_id.as_str()));
        assert_eq!(c.heartbeat("g", 2, &a.member_id, t), err::UNKNOWN_MEMBER_ID);
        // b stops heartbeating: expired, the group is empty.
        c.tick(t + S * 3);
        assert_eq!(c.heartbeat("g", 2, &b.member_id, t), err::UNKNOWN_MEMBER_ID);
        assert_eq!(c.validate_commit("g", -1, "", t), err::NONE);
    }

    #[test]
    fn refusals() {
        let c = Coordinator::new(Duration::from_secs(1), Duration::from_secs(60));
        let t = Instant::now();
        let mut r = JoinRequest {
            group: "g".into(),
            member_id: String::new(),
            client_id: "c".into(),
            session_timeout: Duration::from_millis(10),
            rebalance_timeout: S,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
        };
        assert_eq!(now(c.join(r.clone(), t)).error, err::INVALID_SESSION_TIMEOUT);
        r.session_timeout = S;
        r.member_id = "nobody".into();
        assert_eq!(now(c.join(r.clone(), t)).error, err::UNKNOWN_MEMBER_ID);
        r.member_id.clear();
        let a = later(c.join(r.clone(), t)).try_recv().unwrap();
        r.protocols = vec![("other".into(), Bytes::new())];
        assert_eq!(now(c.join(r, t)).error, err::INCONSISTENT_GROUP_PROTOCOL);
        assert_eq!(now(c.sync("g", 7, &a.member_id, vec![], t)).error, err::ILLEGAL_GENERATION);
        assert_eq!(c.validate_commit("g", -1, "", t), err::UNKNOWN_MEMBER_ID, "standalone commit into a live group");
        assert_eq!(c.leave("g", "nobody", t), err::UNKNOWN_MEMBER_ID);
    }
}
