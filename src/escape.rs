//! Making untrusted text (LLM replies, server answers, corpus lines, error
//! bodies) safe to print or export. A terminal obeys escape sequences in
//! what it prints, so a label holding `ESC ] 0 ; … BEL` could retitle the
//! window or recolour everything after it; a Markdown export renders raw
//! HTML and links, so a description could carry `<script>` or a
//! `javascript:` link. The TUI needs neither: ratatui draws cells, never
//! sequences.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: C0 controls other than
/// newline and tab, DEL, C1 controls, and the bidirectional overrides that
/// make text display in another order than it reads.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as a visible escape (`\x1b`,
/// `\u{202e}`); newlines and tabs are kept. Borrowed when nothing changes.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`terminal`], and newlines and tabs become spaces: for a value
/// printed inside one line (a table cell, a `key: value` line).
pub fn terminal_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .fold(String::with_capacity(text.len()), |mut out, c| {
            push_visible(&mut out, c);
            out
        })
}

fn push_visible(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
    } else if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

/// `text` as literal Markdown inline text: control characters escaped as
/// for the terminal, newlines made spaces, HTML's `<`, `>` and `&` written
/// as entities (so no tag, raw HTML or `<…>` autolink survives), and the
/// characters of emphasis, code spans, links, images and table cells
/// backslash-escaped (so no `[x](javascript:…)` link survives).
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in terminal_line(text).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` for a Markdown code span: control characters escaped, newlines
/// made spaces, backticks replaced so the span cannot be closed early.
pub fn markdown_code(text: &str) -> String {
    terminal_line(text).replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_text() {
        let hostile = "a\u{1b}]0;owned\u{7}\u{1b}[31mred\u{9b}2J\u{202e}b";
        assert_eq!(
            terminal(hostile),
            "a\\x1b]0;owned\\x07\\x1b[31mred\\x9b2J\\u{202e}b"
        );
        assert!(matches!(terminal("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(terminal_line("two\nlines\r"), "two lines\\x0d");
    }

    #[test]
    fn markdown_has_no_html_links_or_controls_left() {
        let hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) \u{1b}[2J\n# head";
        let safe = markdown(hostile);
        assert!(!safe.contains('<') && !safe.contains('\u{1b}') && !safe.contains('\n'));
        assert!(!safe.contains("[click]"), "{safe}");
        assert!(safe.contains("\\[click\\](javascript:"), "{safe}");
        assert_eq!(markdown("a_b*c"), "a\\_b\\*c");
        assert_eq!(markdown_code("x`y\u{7}"), "x'y\\x07");
    }
}
