//! Cutting text to a limit.

/// What ends a text that was cut.
pub const ELLIPSIS: char = '…';

/// Writes a character as itself.
pub fn plain(c: char) -> String {
    c.to_string()
}

/// `text` with each character written by `write`, cut to at most `max`
/// characters: a cut text ends in an ellipsis, and never splits what `write`
/// made of one character.
pub fn fit(text: &str, max: usize, write: fn(char) -> String) -> String {
    let pieces: Vec<String> = text.chars().map(write).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_short_texts_and_cuts_long_ones() {
        assert_eq!(fit("abc", 3, plain), "abc");
        assert_eq!(fit("abcd", 3, plain), "ab…");
        assert_eq!(fit("ab  cd", 5, plain), "ab…");
        assert_eq!(fit("🩺🩺🩺🩺", 3, plain), "🩺🩺…");
        assert_eq!(fit("abc", 0, plain), "");
    }

    proptest! {
        #[test]
        fn a_cut_text_is_a_short_prefix(text in "\\PC{0,80}", max in 0usize..60) {
            let cut = fit(&text, max, plain);
            prop_assert!(cut.chars().count() <= max);
            let kept = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut);
            prop_assert!(text.starts_with(kept));
        }
    }
}
