//! Text from data made safe to show, cut to a limit; and errors as one line.
//!
//! Slack reads `&`, `<` and `>` as markup in every text it draws, the fallback
//! `text` and `plain_text` included: `<!channel>` notifies a whole channel, and
//! `<https://…|click>` is a link whose target hides behind its words. Text that
//! comes from data (names, statuses, error messages, alarm reasons) is escaped
//! as Slack documents (`&amp;`, `&lt;`, `&gt;`), and its control characters,
//! those of terminal escape sequences included, are shown as visible symbols
//! (`␛`, `␇`, `␀`...), so that what was sent can still be read. Line breaks come
//! only from the layout: one inside data reads as a space.

/// What ends a text that was cut.
pub const ELLIPSIS: char = '…';

/// A piece of a Slack text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Written as it is: the message's own markup (labels, line breaks, code
    /// marks, a link it built).
    Layout(&'a str),
    /// Written with [`escape`].
    Data(&'a str),
}

/// How one character of data is written in a Slack text.
pub fn escape(c: char) -> String {
    match c {
        '&' => "&amp;".to_owned(),
        '<' => "&lt;".to_owned(),
        '>' => "&gt;".to_owned(),
        '\n' | '\r' | '\t' => " ".to_owned(),
        // C0 controls (ESC, BEL, NUL...) as their Unicode control pictures.
        '\0'..='\x1f' => char::from_u32(0x2400 + u32::from(c))
            .unwrap_or(char::REPLACEMENT_CHARACTER)
            .to_string(),
        '\x7f' => '\u{2421}'.to_string(),
        // C1 controls (among them the one-character CSI) and the bidirectional
        // overrides and isolates, which reorder how the text around them reads.
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            char::REPLACEMENT_CHARACTER.to_string()
        }
        other => other.to_string(),
    }
}

/// `parts` written out, cut to at most `max` characters: a cut text ends in an
/// ellipsis, and never splits what [`escape`] made of one character.
pub fn fit(parts: &[Part<'_>], max: usize) -> String {
    let pieces: Vec<String> = parts
        .iter()
        .flat_map(|part| -> Box<dyn Iterator<Item = String> + '_> {
            match *part {
                Part::Layout(text) => Box::new(text.chars().map(String::from)),
                Part::Data(text) => Box::new(text.chars().map(escape)),
            }
        })
        .collect();
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    if total <= max {
        return pieces.concat();
    }
    let mut out = String::new();
    let mut used = 0;
    for piece in pieces {
        let n = piece.chars().count();
        // Room is kept for the ellipsis.
        if used + n >= max {
            break;
        }
        out.push_str(&piece);
        used += n;
    }
    out.truncate(out.trim_end().len());
    if max > 0 {
        out.push(ELLIPSIS);
    }
    out
}

/// `text` cut to at most `max` characters, written as it is.
pub fn cut(text: &str, max: usize) -> String {
    fit(&[Part::Layout(text)], max)
}

/// An error and its causes on one line, `outer: cause: root cause`; a cause
/// whose text its parent already ends with is said once.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::{Data, Layout};
    use proptest::prelude::*;

    #[test]
    fn keeps_short_texts_and_cuts_long_ones() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("ab  cd", 5), "ab…");
        assert_eq!(cut("🩺🩺🩺🩺", 3), "🩺🩺…");
        assert_eq!(cut("abc", 0), "");
    }

    #[test]
    fn data_is_escaped_and_its_controls_shown() {
        assert_eq!(
            fit(&[Data("<!channel> & <https://evil.example|click>")], 100),
            "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
        );
        assert_eq!(
            fit(
                &[Data("\u{1b}[31mred\u{1b}[0m \u{7}\u{0}\u{7f}\u{9b}2J")],
                100
            ),
            "␛[31mred␛[0m ␇␀␡\u{fffd}2J"
        );
        assert_eq!(fit(&[Data("a\r\nb\tc")], 100), "a  b c");
        assert_eq!(
            fit(&[Data("abc\u{202e}fed\u{2066}")], 100),
            "abc\u{fffd}fed\u{fffd}"
        );
        // Emoji sequences are kept whole.
        assert_eq!(fit(&[Data("👩‍⚕️ é")], 100), "👩‍⚕️ é");
    }

    #[test]
    fn layout_is_written_as_it_is() {
        assert_eq!(
            fit(&[Layout("*Error*\n"), Data("<b>\n"), Layout("`x`")], 100),
            "*Error*\n&lt;b&gt; `x`"
        );
    }

    #[test]
    fn an_escape_is_never_split() {
        assert_eq!(fit(&[Data("a&b")], 5), "a…");
        assert_eq!(fit(&[Data("a&bc")], 7), "a&amp;…");
    }

    proptest! {
        #[test]
        fn a_cut_text_is_a_short_prefix(text in "\\PC{0,80}", max in 0usize..60) {
            let cut = cut(&text, max);
            prop_assert!(cut.chars().count() <= max);
            let kept = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut);
            prop_assert!(text.starts_with(kept));
        }

        #[test]
        fn escaped_data_has_no_markup_and_no_control(text in "(\\PC|[\\x00-\\x1f\\x7f-\\u{9f}<>&]){0,100}", max in 1usize..200) {
            let full = fit(&[Data(&text)], usize::MAX);
            let out = fit(&[Data(&text)], max);
            prop_assert!(out.chars().count() <= max);
            prop_assert!(!out.chars().any(char::is_control));
            prop_assert!(!out.contains('<') && !out.contains('>'));
            for (i, _) in out.match_indices('&') {
                let rest = &out[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;"].iter().any(|e| rest.starts_with(e)));
            }
            let kept = out.strip_suffix(ELLIPSIS).unwrap_or(&out);
            prop_assert!(full.starts_with(kept));
        }
    }
}
