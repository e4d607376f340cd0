//! "Did you mean": a mistyped command suggests what was meant. First by
//! habit (docker's and PM2's words for what a skiff command does: `list`
//! is `ps`, `reload` is `rollout`), then by spelling, and only when the
//! spelling is close (one edit, two for long words): `stats` is not `start`.

/// Words from docker and PM2 habits -> the skiff command that does it.
const HABITS: &[(&str, &str)] = &[
    ("list", "ps"),
    ("ls", "ps"),
    ("status", "ps"),
    ("jlist", "ps --format json"),
    ("port", "ps"),
    ("reload", "rollout"),
    ("deploy", "rollout"),
    ("update", "rollout"),
    ("redeploy", "rollout"),
    ("delete", "rm"),
    ("del", "rm"),
    ("remove", "rm"),
    ("kill", "stop -t 0"),
    ("down", "stop"),
    ("log", "logs"),
    ("attach", "logs -f"),
    ("create", "run -d"),
    ("up", "run -d"),
    ("describe", "inspect"),
    ("show", "inspect"),
    ("env", "inspect"),
    ("df", "info"),
    ("resurrect", "boot"),
    ("startup", "generate"),
    ("undo", "rollback"),
    ("revert", "rollback"),
    ("tags", "images"),
    ("monit", "stats"),
    ("monitor", "stats"),
    ("stats", "stats"),
    ("stat", "stats"),
    ("top", "top"),
    ("builder", "prune"),
];

/// What to tell the user about `typed`.
#[derive(Debug, PartialEq, Eq)]
pub enum Suggestion {
    /// `skiff CMD` does that.
    Command(String),
    /// A habit skiff has no command for (yet).
    Missing,
    None,
}

/// `typed` is not a command; `commands` are the visible ones.
pub fn suggest(typed: &str, commands: &[String]) -> Suggestion {
    let exists = |c: &str| {
        commands
            .iter()
            .any(|x| x == c.split(' ').next().unwrap_or(c))
    };
    if let Some((_, to)) = HABITS.iter().find(|(from, _)| *from == typed) {
        return if exists(to) {
            Suggestion::Command(to.to_string())
        } else {
            Suggestion::Missing
        };
    }
    let limit = if typed.chars().count() <= 5 { 1 } else { 2 };
    commands
        .iter()
        .map(|c| (distance(typed, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map_or(Suggestion::None, |(_, c)| Suggestion::Command(c.clone()))
}

pub use crate::text::edit_distance as distance;

/// Name the closest of `names` to `typed` when the spelling is close.
pub fn closest<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if typed.chars().count() <= 5 { 1 } else { 2 };
    names
        .into_iter()
        .map(|n| (distance(typed, n), n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds() -> Vec<String> {
        [
            "ps", "start", "stop", "rm", "rollout", "logs", "system", "images", "inspect", "boot",
            "prune",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn by_meaning_first() {
        assert_eq!(suggest("list", &cmds()), Suggestion::Command("ps".into()));
        assert_eq!(
            suggest("reload", &cmds()),
            Suggestion::Command("rollout".into())
        );
        assert_eq!(
            suggest("kill", &cmds()),
            Suggestion::Command("stop -t 0".into())
        );
        // Not `start` and `stop`: skiff has no stats or top here.
        assert_eq!(suggest("stats", &cmds()), Suggestion::Missing);
        assert_eq!(suggest("top", &cmds()), Suggestion::Missing);
        let mut with = cmds();
        with.push("stats".into());
        assert_eq!(suggest("monit", &with), Suggestion::Command("stats".into()));
    }

    #[test]
    fn by_spelling_only_when_close() {
        assert_eq!(
            suggest("strat", &cmds()),
            Suggestion::Command("start".into())
        );
        assert_eq!(
            suggest("sytem", &cmds()),
            Suggestion::Command("system".into())
        );
        assert_eq!(
            suggest("imgaes", &cmds()),
            Suggestion::Command("images".into())
        );
        assert_eq!(suggest("frobnicate", &cmds()), Suggestion::None);
        assert_eq!(distance("stats", "start"), 2);
        assert_eq!(closest("bulid", ["build", "deps"]), Some("build"));
        assert_eq!(closest("web", ["api", "db"]), None);
    }
}
