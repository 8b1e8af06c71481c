//! The `word_count` job: tokenising, counting and sorting words, and reducing an HTML page to its
//! visible text first.

use std::collections::HashMap;

use scraper::{Html, Node};
use serde::Serialize;

use roost_common::model::WordSort;

/// A job result; `words` serialises as `[["word", 3], ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordCount {
    pub total_words: u64,
    pub unique_words: u64,
    pub words: Vec<(String, u64)>,
}

/// Counts the words of `text`.
///
/// A word is a maximal run of Unicode alphanumeric characters, lower-cased, in which single inner
/// apostrophes (`'` or `’`, stored as `'`) are kept: `don't` and `rock'n'roll` are one word each,
/// leading and trailing apostrophes are dropped and two apostrophes in a row split the word.
pub fn count_words(text: &str, sort: WordSort) -> WordCount {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut total: u64 = 0;
    // The current word, reused so a word already counted costs no allocation.
    let mut word = String::new();
    // An apostrophe was seen right after the current word's last character.
    let mut apostrophe = false;

    let mut flush = |word: &mut String, total: &mut u64| {
        if word.is_empty() {
            return;
        }
        *total += 1;
        if let Some(n) = counts.get_mut(word.as_str()) {
            *n += 1;
        } else {
            counts.insert(word.clone(), 1);
        }
        word.clear();
    };

    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if apostrophe {
                word.push('\'');
                apostrophe = false;
            }
            word.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            if apostrophe {
                flush(&mut word, &mut total);
                apostrophe = false;
            } else if !word.is_empty() {
                apostrophe = true;
            }
        } else if !c.is_ascii() && c.is_alphanumeric() {
            if apostrophe {
                word.push('\'');
                apostrophe = false;
            }
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut total);
            apostrophe = false;
        }
    }
    flush(&mut word, &mut total);

    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    match sort {
        WordSort::Frequency => {
            words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)))
        }
        WordSort::Alphabetical => words.sort_unstable_by(|a, b| a.0.cmp(&b.0)),
    }
    WordCount {
        total_words: total,
        unique_words: words.len() as u64,
        words,
    }
}

/// Elements whose content is never rendered as text.
const INVISIBLE: &[&str] = &[
    "script", "style", "noscript", "template", "head", "svg", "iframe", "object",
];

/// Elements that do not break words: text on either side of them runs together (`<b>a</b>b` is
/// one word). Every other element is treated as a block and separates words.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins",
    "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
    "wbr",
];

/// The visible text of an HTML document (entities decoded), without the content of scripts,
/// styles, `head` and other invisible elements or of elements with the `hidden` attribute.
/// Block boundaries become whitespace so `<p>a</p><p>b</p>` is two words.
pub fn visible_text(html: &str) -> String {
    let document = Html::parse_document(html);
    let mut out = String::with_capacity(html.len() / 2);
    let space = |out: &mut String| {
        if !out.is_empty() && !out.ends_with(char::is_whitespace) {
            out.push(' ');
        }
    };
    // Depth-first with an explicit stack, since hostile pages can nest arbitrarily deep.
    // `true` marks the closing of a block element.
    let mut stack = vec![(document.tree.root(), false)];
    while let Some((node, closing)) = stack.pop() {
        if closing {
            space(&mut out);
            continue;
        }
        match node.value() {
            Node::Text(text) => out.push_str(text),
            Node::Element(element) => {
                let name = element.name();
                if INVISIBLE.contains(&name) || element.attr("hidden").is_some() {
                    continue;
                }
                if !INLINE.contains(&name) {
                    space(&mut out);
                    stack.push((node, true));
                }
                stack.extend(node.children().rev().map(|child| (child, false)));
            }
            Node::Document | Node::Fragment => {
                stack.extend(node.children().rev().map(|child| (child, false)));
            }
            Node::Doctype(_) | Node::Comment(_) | Node::ProcessingInstruction(_) => {}
        }
    }
    out
}

/// Whether a fetched body is HTML: by its content type, or, without one, by sniffing the start of
/// the body for `<!doctype html` or `<html`.
pub fn is_html(content_type: Option<&str>, body: &str) -> bool {
    if let Some(content_type) = content_type {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        return essence.eq_ignore_ascii_case("text/html")
            || essence.eq_ignore_ascii_case("application/xhtml+xml");
    }
    let head = body.as_bytes();
    let head = &head[..head.len().min(1024)];
    [b"<!doctype html".as_slice(), b"<html".as_slice()]
        .iter()
        .any(|needle| {
            head.windows(needle.len())
                .any(|window| window.eq_ignore_ascii_case(needle))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, u64)> {
        count_words(text, WordSort::Alphabetical).words
    }

    fn pairs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
    }

    #[test]
    fn empty_and_wordless_text() {
        let empty = WordCount {
            total_words: 0,
            unique_words: 0,
            words: vec![],
        };
        assert_eq!(count_words("", WordSort::Frequency), empty);
        assert_eq!(
            count_words("  ... !!! ''' ’ -- \n\t", WordSort::Frequency),
            empty
        );
    }

    #[test]
    fn lower_cases_and_splits_on_non_alphanumerics() {
        assert_eq!(
            words("Hello, hello HELLO! world-wide_web\tfoo.bar"),
            pairs(&[
                ("bar", 1),
                ("foo", 1),
                ("hello", 3),
                ("web", 1),
                ("wide", 1),
                ("world", 1)
            ])
        );
    }

    #[test]
    fn digits_are_word_characters() {
        assert_eq!(
            words("route 66, 2024-01-02 abc123"),
            pairs(&[
                ("01", 1),
                ("02", 1),
                ("2024", 1),
                ("66", 1),
                ("abc123", 1),
                ("route", 1)
            ])
        );
    }

    #[test]
    fn apostrophes() {
        assert_eq!(words("don't"), pairs(&[("don't", 1)]));
        assert_eq!(words("rock'n'roll"), pairs(&[("rock'n'roll", 1)]));
        assert_eq!(words("'quoted'"), pairs(&[("quoted", 1)]));
        assert_eq!(
            words("the dogs' bowls"),
            pairs(&[("bowls", 1), ("dogs", 1), ("the", 1)])
        );
        assert_eq!(words("a''b"), pairs(&[("a", 1), ("b", 1)]));
        assert_eq!(words("a'’b"), pairs(&[("a", 1), ("b", 1)]));
        assert_eq!(words("'''x'''"), pairs(&[("x", 1)]));
        assert_eq!(words("it' s"), pairs(&[("it", 1), ("s", 1)]));
        // Curly apostrophes are normalised, so both spellings count as one word.
        assert_eq!(words("Don’t don't DON’T"), pairs(&[("don't", 3)]));
        assert_eq!(words("‘quoted’"), pairs(&[("quoted", 1)]));
        // Other quote-like characters are separators.
        assert_eq!(words("a`b a\"b"), pairs(&[("a", 2), ("b", 2)]));
    }

    #[test]
    fn unicode() {
        assert_eq!(words("Ünïcödé ünïcödé ÜNÏCÖDÉ"), pairs(&[("ünïcödé", 3)]));
        assert_eq!(
            words("Straße STRASSE"),
            pairs(&[("strasse", 1), ("straße", 1)])
        );
        // CJK ideographs are alphanumeric; without spaces they form one run.
        assert_eq!(
            words("日本語 テキスト 日本語"),
            pairs(&[("テキスト", 1), ("日本語", 2)])
        );
        assert_eq!(words("ΣΊΣΥΦΟΣ"), pairs(&[("σίσυφοσ", 1)]));
        // Unicode digits and letters from other scripts.
        assert_eq!(words("٣٤ мир"), pairs(&[("мир", 1), ("٣٤", 1)]));
        // Emoji and punctuation separate words.
        assert_eq!(
            words("a🎉b—c…d"),
            pairs(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)])
        );
        // Non-breaking and other Unicode spaces separate words.
        assert_eq!(
            words("a\u{a0}b\u{2003}c"),
            pairs(&[("a", 1), ("b", 1), ("c", 1)])
        );
        assert_eq!(words("l’été"), pairs(&[("l'été", 1)]));
    }

    #[test]
    fn frequency_sort_breaks_ties_alphabetically() {
        let result = count_words("b a c b c a b d", WordSort::Frequency);
        assert_eq!(result.total_words, 8);
        assert_eq!(result.unique_words, 4);
        assert_eq!(
            result.words,
            pairs(&[("b", 3), ("a", 2), ("c", 2), ("d", 1)])
        );
    }

    #[test]
    fn alphabetical_sort_uses_string_order() {
        let result = count_words("zeta Éclair alpha beta alpha 10 9", WordSort::Alphabetical);
        assert_eq!(result.total_words, 7);
        assert_eq!(result.unique_words, 6);
        assert_eq!(
            result.words,
            pairs(&[
                ("10", 1),
                ("9", 1),
                ("alpha", 2),
                ("beta", 1),
                ("zeta", 1),
                ("éclair", 1)
            ])
        );
    }

    #[test]
    fn serialises_words_as_pairs() {
        let result = count_words("b a b", WordSort::Frequency);
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            serde_json::json!({
                "total_words": 3,
                "unique_words": 2,
                "words": [["b", 2], ["a", 1]]
            })
        );
    }

    #[test]
    fn large_text_in_one_pass() {
        let sentence = "The quick brown fox doesn't jump over the lazy dog’s back. ";
        let text = sentence.repeat(10 * 1024 * 1024 / sentence.len() + 1);
        assert!(text.len() >= 10 * 1024 * 1024);
        let result = count_words(&text, WordSort::Frequency);
        let repeats = (text.len() / sentence.len()) as u64;
        assert_eq!(result.total_words, 11 * repeats);
        assert_eq!(result.unique_words, 10);
        assert_eq!(result.words[0], ("the".to_owned(), 2 * repeats));
    }

    #[test]
    fn visible_text_skips_invisible_content() {
        let html = r#"<!DOCTYPE html>
            <html><head><title>Title words</title><style>p { color: red }</style>
            <script>var hidden = "script";</script></head>
            <body>
              <h1>Heading</h1>
              <p>First&nbsp;para &amp; more</p><p>second</p>
              <div hidden>secret</div>
              <p>visible <span hidden>nope</span>too</p>
              <script>alert("no")</script>
              <noscript>enable js</noscript>
              <template><p>templated</p></template>
              <svg><text>vector</text></svg>
              <iframe src="x">framed</iframe>
              <object data="x">embedded</object>
              <!-- a comment -->
              <ul><li>one</li><li>two</li></ul>
            </body></html>"#;
        let text = visible_text(html);
        let result = count_words(&text, WordSort::Alphabetical);
        assert_eq!(
            result.words,
            pairs(&[
                ("first", 1),
                ("heading", 1),
                ("more", 1),
                ("one", 1),
                ("para", 1),
                ("second", 1),
                ("too", 1),
                ("two", 1),
                ("visible", 1)
            ]),
            "{text:?}"
        );
    }

    #[test]
    fn visible_text_block_and_inline_boundaries() {
        let words_of = |html: &str| count_words(&visible_text(html), WordSort::Alphabetical).words;
        assert_eq!(words_of("<p>a</p><p>b</p>"), pairs(&[("a", 1), ("b", 1)]));
        assert_eq!(
            words_of("<div>a</div><div>b</div>"),
            pairs(&[("a", 1), ("b", 1)])
        );
        assert_eq!(words_of("a<br>b"), pairs(&[("a", 1), ("b", 1)]));
        assert_eq!(
            words_of("<table><tr><td>a</td><td>b</td></tr></table>"),
            pairs(&[("a", 1), ("b", 1)])
        );
        assert_eq!(words_of("<b>bold</b>er"), pairs(&[("bolder", 1)]));
        assert_eq!(words_of("don<em>&rsquo;</em>t"), pairs(&[("don't", 1)]));
        assert_eq!(
            words_of("caf&eacute; &lt;tag&gt;"),
            pairs(&[("café", 1), ("tag", 1)])
        );
        assert_eq!(visible_text(""), "");
    }

    #[test]
    fn visible_text_survives_deep_nesting() {
        let html = format!("{}deep{}", "<div>".repeat(10_000), "</div>".repeat(10_000));
        assert_eq!(visible_text(&html).trim(), "deep");
    }

    #[test]
    fn html_detection() {
        assert!(is_html(Some("text/html"), ""));
        assert!(is_html(Some("Text/HTML; charset=utf-8"), ""));
        assert!(is_html(Some("application/xhtml+xml"), ""));
        assert!(!is_html(Some("text/plain"), "<html><body>x</body></html>"));
        assert!(!is_html(Some("application/json"), "{}"));
        assert!(is_html(None, "<!DOCTYPE html><html></html>"));
        assert!(is_html(None, "\u{feff}\n  <!doctype HTML>"));
        assert!(is_html(None, "<!-- c --><HTML lang=en>"));
        assert!(!is_html(None, "just some text about html"));
        assert!(!is_html(None, ""));
        let late = format!("{}<html>", "x".repeat(2000));
        assert!(!is_html(None, &late));
        // A multi-byte character across the sniffing limit must not panic.
        let multibyte = "é".repeat(2000);
        assert!(!is_html(None, &multibyte));
    }
}
