//! Text from data made safe to show, cut to a limit; and errors as one line.
//!
//! Names, statuses, error messages and alarm reasons come from AWS or from
//! whoever named a resource, and reach an email, a terminal and Slack. One rule
//! decides how a character of such data is shown, wherever it goes: a character
//! a reader would not see as itself (a control character, line breaks and those
//! of terminal escape sequences included; a bidirectional mark, embedding,
//! override or isolate; an invisible separator; the byte order mark) is shown
//! as its code point, `\u{1b}`, so that data can neither forge a line of a
//! message, reorder the text around it nor drive a terminal, and what was sent
//! can still be read, exactly and in any font.
//!
//! Chat text follows the same rule, and more: Slack reads `&`, `<` and `>` as
//! markup in every text it draws (`mrkdwn`, `plain_text` and the fallback
//! `text` of a webhook message, Chatbot's `client-markdown`): `<!channel>`
//! notifies a whole channel, and `<https://…|click>` is a link whose target
//! hides behind its words. In chat text they are written as Slack documents,
//! `&amp;`, `&lt;` and `&gt;`.
//!
//! A text cut to a limit ends in an ellipsis and never splits what one
//! character became.

/// What ends a text that was cut.
const ELLIPSIS: char = '…';

/// A piece of a chat text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Written as it is: the message's own markup (labels, line breaks, code
    /// marks, a link it built).
    Layout(&'a str),
    /// Data, written as chat text.
    Data(&'a str),
}

/// Whether a reader would not see `c` as itself: C0 and C1 controls and DEL,
/// and the invisible formatting characters that reorder, hide or break text
/// (Arabic letter mark, zero-width space, left-to-right and right-to-left
/// marks, line and paragraph separators, bidirectional embeddings, overrides
/// and isolates, word joiner and invisible operators, byte order mark). The
/// zero-width joiners, which emoji sequences and several scripts need, are
/// shown as they are.
pub(crate) fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'
                | '\u{200e}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// How one character of data is written wherever text is shown.
fn show(c: char, out: &mut String) {
    if is_hidden(c) {
        out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
    } else {
        out.push(c);
    }
}

/// How one character of data is written in chat text.
fn show_in_chat(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        other => show(other, out),
    }
}

fn as_is(c: char, out: &mut String) {
    out.push(c);
}

/// How a character is written: [`as_is`], [`show`] or [`show_in_chat`].
type Form = fn(char, &mut String);

/// Each character written in its form, the whole cut to at most `max`
/// characters: a cut text ends in an ellipsis, and never splits what one
/// character became.
fn written(chars: impl IntoIterator<Item = (char, Form)>, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    // The bytes of `out` that leave room for the ellipsis, once known.
    let mut room = None;
    for (c, form) in chars {
        let start = out.len();
        form(c, &mut out);
        let n = out[start..].chars().count();
        if room.is_none() && used + n >= max {
            room = Some(start);
        }
        used += n;
        if used > max {
            break;
        }
    }
    if used <= max {
        return out;
    }
    out.truncate(room.unwrap_or(0));
    out.truncate(out.trim_end().len());
    if max > 0 {
        out.push(ELLIPSIS);
    }
    out
}

/// `text` as data is shown: every hidden character as its code point.
pub fn visible(text: &str) -> String {
    cut(text, usize::MAX)
}

/// [`visible`] text, cut to at most `max` characters.
pub fn cut(text: &str, max: usize) -> String {
    written(text.chars().map(|c| (c, show as Form)), max)
}

/// `text` as data is written in chat text: [`visible`], with Slack's markup
/// characters escaped.
pub(crate) fn chat(text: &str) -> String {
    fit(&[Part::Data(text)], usize::MAX)
}

/// A chat text made of `parts`, cut to at most `max` characters.
pub fn fit(parts: &[Part<'_>], max: usize) -> String {
    let chars = parts.iter().flat_map(|part| {
        let (text, form): (&str, Form) = match *part {
            Part::Layout(text) => (text, as_is),
            Part::Data(text) => (text, show_in_chat),
        };
        text.chars().map(move |c| (c, form))
    });
    written(chars, max)
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
    fn hidden_characters_are_shown_as_their_code_points() {
        assert_eq!(visible("plain ünïcode 🙂"), "plain ünïcode 🙂");
        assert_eq!(
            visible(
                "a\u{1b}[2J\u{202e}b\r\n\t\u{0}\u{7}\u{7f}\u{85}\u{9b}\u{2066}\u{200b}\u{feff}"
            ),
            "a\\u{1b}[2J\\u{202e}b\\u{d}\\u{a}\\u{9}\\u{0}\\u{7}\\u{7f}\\u{85}\\u{9b}\\u{2066}\\u{200b}\\u{feff}"
        );
        // Emoji sequences and joined scripts are kept whole.
        assert_eq!(visible("👩‍⚕️ é می‌خواهم"), "👩‍⚕️ é می‌خواهم");
    }

    #[test]
    fn chat_data_is_escaped_and_its_hidden_characters_shown() {
        assert_eq!(
            chat("<!channel> & <https://evil.example|click>"),
            "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
        );
        assert_eq!(
            chat("\u{1b}[31mred\u{1b}[0m\r\n*x*"),
            "\\u{1b}[31mred\\u{1b}[0m\\u{d}\\u{a}*x*"
        );
    }

    #[test]
    fn layout_is_written_as_it_is() {
        assert_eq!(
            fit(&[Layout("*Error*\n"), Data("<b>\n"), Layout("`x`")], 100),
            "*Error*\n&lt;b&gt;\\u{a}`x`"
        );
    }

    #[test]
    fn an_escape_is_never_split() {
        assert_eq!(fit(&[Data("a&b")], 5), "a…");
        assert_eq!(fit(&[Data("a&bc")], 7), "a&amp;…");
        assert_eq!(cut("ab\u{1b}c", 6), "ab…");
        assert_eq!(cut("ab\u{1b}c", 9), "ab\\u{1b}c");
        assert_eq!(cut("ab\u{1b}cd", 9), "ab\\u{1b}…");
    }

    /// Text with everything data can hold: any character, controls, bidi
    /// and invisible formatting characters, Slack markup, wide characters.
    const DATA: &str = "(\\PC|[\\x00-\\x1f\\x7f-\\u{9f}\\u{61c}\\u{200b}-\\u{200f}\\u{2028}-\\u{202e}\\u{2060}-\\u{2069}\\u{feff}<>&é🩺 ]){0,80}";

    /// Whether `text` is the written form of a prefix of `data`, cut after a
    /// whole character (and any trailing whitespace dropped).
    fn is_a_whole_prefix(text: &str, data: &str, write: impl Fn(&str) -> String) -> bool {
        data.char_indices()
            .map(|(i, _)| i)
            .chain([data.len()])
            .any(|end| write(&data[..end]).trim_end() == text)
    }

    proptest! {
        #[test]
        fn shown_text_hides_nothing_and_keeps_the_rest(text in DATA) {
            let shown = visible(&text);
            prop_assert!(!shown.chars().any(is_hidden), "{shown:?}");
            // What is not hidden is kept as it is, and showing again changes nothing.
            if !text.chars().any(is_hidden) {
                prop_assert_eq!(&shown, &text);
            }
            prop_assert_eq!(visible(&shown), shown);
        }

        #[test]
        fn chat_text_is_shown_text_without_markup(text in DATA) {
            let chat = chat(&text);
            prop_assert!(!chat.chars().any(is_hidden));
            prop_assert!(!chat.contains('<') && !chat.contains('>'));
            for (i, _) in chat.match_indices('&') {
                prop_assert!(["&amp;", "&lt;", "&gt;"].iter().any(|e| chat[i..].starts_with(e)));
            }
            // The same as shown text, but for the markup characters.
            let unescaped = chat.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            prop_assert_eq!(unescaped, visible(&text));
        }

        #[test]
        fn a_cut_text_fits_and_is_a_whole_prefix(text in DATA, max in 0usize..120) {
            let full = visible(&text);
            let out = cut(&text, max);
            prop_assert!(out.chars().count() <= max);
            if full.chars().count() <= max {
                prop_assert_eq!(out, full);
            } else {
                let kept = out.strip_suffix(ELLIPSIS).unwrap_or(&out);
                prop_assert_eq!(kept.len() < out.len(), max > 0, "a cut text ends in an ellipsis");
                prop_assert!(is_a_whole_prefix(kept, &text, visible), "{kept:?}");
            }
        }

        #[test]
        fn a_fitted_chat_text_fits_and_is_a_whole_prefix(text in DATA, max in 0usize..200) {
            let full = chat(&text);
            let out = fit(&[Data(&text)], max);
            prop_assert!(out.chars().count() <= max);
            prop_assert!(!out.contains('<') && !out.chars().any(is_hidden));
            if full.chars().count() <= max {
                prop_assert_eq!(out, full);
            } else {
                let kept = out.strip_suffix(ELLIPSIS).unwrap_or(&out);
                prop_assert!(is_a_whole_prefix(kept, &text, chat), "{kept:?}");
            }
        }
    }
}
