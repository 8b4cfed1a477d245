//! GitLab's conventions the app follows: slugs and the default exec command.

/// The default exec command. GitLab's is `sh -c 'bash || sh'`
/// (`lib/gitlab/kubernetes.rb` `EXEC_COMMAND`); Porthole `exec`s the shell
/// instead, so that the shell's exit status is the exec's and a shell that
/// exits non-zero does not start a second one by itself, and sets `TERM`,
/// which an exec cannot pass as an environment variable.
pub const DEFAULT_COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "export TERM=xterm-256color; if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
];

/// Lowercase, every run of characters other than `a-z0-9` as one `-`, no
/// leading or trailing `-` (GitLab's `slugify`).
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_like_gitlab() {
        let p = |path: &str| slugify(path);
        assert_eq!(p("demo/shop"), "demo-shop");
        assert_eq!(p("Group/Sub.Group/my_app"), "group-sub-group-my-app");
    }

}
