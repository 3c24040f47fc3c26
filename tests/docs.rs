//! The documentation stands alone: every relative link in README.md and docs/ names a file
//! or folder of the repository, and nothing cites notes outside it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The markdown files the documentation is made of.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("data/README.md")];
    pages.extend(
        std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    pages.sort();
    pages
}

/// The targets of the inline links `[text](target)` and images `![alt](target)` of a page,
/// outside code blocks and code spans, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (k, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold no links.
        let plain: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((k + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for (line, target) in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with('#')
            {
                continue;
            }
            let path = target.split('#').next().unwrap();
            checked += 1;
            if !dir.join(path).exists() {
                broken.push(format!("{}:{line}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    // The README alone links every page of docs/.
    assert!(
        checked >= 20,
        "only {checked} links found: is the parser blind?"
    );
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked: Vec<String> = links(&readme).into_iter().map(|(_, t)| t).collect();
    for page in pages() {
        let rel = page
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel.starts_with("docs/") {
            assert!(linked.contains(&rel), "README.md does not link {rel}");
        }
    }
}

/// The parser finds links and skips code.
#[test]
fn links_are_found_outside_code() {
    let text =
        "see [a](x.md) and ![b](img/y.png)\n`[c](not.md)`\n```\n[d](no.md)\n```\n[e](z.md#part)";
    let found: Vec<String> = links(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["x.md", "img/y.png", "z.md#part"]);
}

/// Users never see the project's private notes: no page, source file or help text cites them.
#[test]
fn nothing_cites_notes_outside_the_repository() {
    let mut offenders = Vec::new();
    let mut visit = |p: &Path| {
        let Ok(text) = std::fs::read_to_string(p) else {
            return;
        };
        for (k, line) in text.lines().enumerate() {
            if line.contains("MATH.md")
                || line.contains("../shared")
                || line.contains("shared notes")
            {
                offenders.push(format!("{}:{}", p.display(), k + 1));
            }
        }
    };
    fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, visit);
            } else if p
                .extension()
                .is_some_and(|e| e == "rs" || e == "md" || e == "py" || e == "toml")
            {
                visit(&p);
            }
        }
    }
    for dir in [
        "src",
        "docs",
        "python/ganflow",
        "examples",
        "benches",
        "data",
    ] {
        walk(&root().join(dir), &mut visit);
    }
    visit(&root().join("README.md"));
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
