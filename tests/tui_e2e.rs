//! Drives the real `sage` binary in tmux: start a session on a synthetic
//! feature, wait for the first hypotheses, pause, approve, edit one, inject
//! an experiment, quit; then check that the session log holds exactly those
//! actions and that replaying it rebuilds their effects.
//!
//! Needs `tmux` on the PATH (`.ci/run` installs it when missing).

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use sage::agent::{Agent, ExperimentKind, HypothesisId, Prediction, Target, UserAction};
use sage::session::{SessionStore, replay};

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(data: &Path, args: &str) -> Tmux {
        let name = format!("sage-e2e-{}", std::process::id());
        let command = format!(
            "SAGE_DATA_DIR={} {} {args}",
            data.display(),
            env!("CARGO_BIN_EXE_sage")
        );
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "160",
                "-y",
                "45",
                &command,
            ])
            .status()
            .expect("tmux must be installed to run the TUI end-to-end test (apt-get install tmux)");
        assert!(status.success(), "tmux could not start a session");
        Tmux { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
        sleep(Duration::from_millis(300));
    }

    fn literal(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.name, text])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
        sleep(Duration::from_millis(300));
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` never appeared; screen:\n{screen}"
            );
            sleep(Duration::from_millis(200));
        }
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn steer_a_live_session_then_replay_it() {
    let data = tempfile::tempdir().unwrap();
    let tui = Tmux::start(
        data.path(),
        "explore --preset synthetic --feature 0 --gate review",
    );
    tui.wait_for("H1 v1");
    tui.wait_for("AWAITING APPROVAL");

    tui.keys(&["Space"]);
    tui.wait_for("PAUSED");
    tui.keys(&["a"]);
    tui.keys(&["Tab"]);
    tui.keys(&["e"]);
    tui.literal(" (edited)");
    tui.keys(&["Enter"]);
    tui.wait_for("(edited)");
    tui.keys(&["n"]);
    tui.literal("We met in May.");
    tui.keys(&["Tab"]);
    tui.literal("May");
    tui.keys(&["Enter"]);
    tui.wait_for("We met in May.");
    tui.keys(&["q"]);
    tui.wait_for("Quit now?");
    tui.keys(&["y"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while tui.alive() {
        assert!(Instant::now() < deadline, "sage did not exit after q, y");
        sleep(Duration::from_millis(100));
    }

    let store = SessionStore::new(data.path().join("sessions"));
    let ids = store.ids().unwrap();
    assert_eq!(ids.len(), 1, "one session expected, found {ids:?}");
    let log = store.load(&ids[0]).unwrap();
    let actions: Vec<UserAction> = log
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            sage::agent::Event::User { action, .. } => Some(action.clone()),
            _ => None,
        })
        .collect();
    let h1 = HypothesisId(1);
    let state = replay(Agent::new(), &log.entries, None).state();
    let original = state
        .hypothesis(h1)
        .unwrap()
        .description
        .replace(" (edited)", "");
    assert_eq!(
        actions,
        vec![
            UserAction::Pause,
            UserAction::Approve {
                target: Target::Hypothesis(h1)
            },
            UserAction::EditHypothesis {
                id: h1,
                description: Some(format!("{original} (edited)")),
                prediction: Some(state.hypothesis(h1).unwrap().prediction.clone()),
            },
            UserAction::AddExperiment {
                hypothesis: h1,
                text: "We met in May.".into(),
                prediction: Prediction {
                    firing: vec!["May".into()],
                    strength: None
                },
                kind: ExperimentKind::Positive,
            },
        ]
    );
    // The replayed state carries every action's effect.
    assert!(state.paused);
    assert!(
        state
            .hypothesis(h1)
            .unwrap()
            .description
            .ends_with("(edited)")
    );
    assert!(
        state
            .experiments
            .iter()
            .any(|e| e.text == "We met in May." && e.hypothesis == h1)
    );
    assert!(!state.pending_approvals().contains(&Target::Hypothesis(h1)));
}
