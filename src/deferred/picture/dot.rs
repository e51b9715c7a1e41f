//! Pictures as a Graphviz graph: [`Picture::dot`](super::Picture::dot)'s nodes, edges and labels.
//!
//! Part of the typed Deferred: it knows nothing of the combinators, the primitives, the async
//! bridge or the reactor.

use super::{Level, Picture, Row, group, plural};
/// A graph of several pictures, as [`Picture::dot`] builds it.
#[derive(Default)]
pub(super) struct Graph {
    /// Node names by chain address, in the order first seen.
    nodes: Vec<(usize, String)>,
    /// The node declarations and edges, in order.
    lines: Vec<String>,
    edges: std::collections::HashSet<(String, String)>,
    /// Node names for chains that have no address (a Deferred with no chain) or that a picture
    /// left out: numbered apart.
    others: usize,
}

impl Graph {
    pub(super) fn add(&mut self, picture: &Picture) {
        let mut previous: Option<String> = None;
        for row in picture.rows() {
            let name = match row {
                Row::Chain { level, this, .. } => self.node(picture, level, this),
                Row::Gap { skipped } => {
                    self.others += 1;
                    let name = format!("s{}", self.others);
                    let chains = plural(skipped, "chain", "chains");
                    let label = format!("... {} more {chains} ...", group(skipped));
                    self.lines.push(format!("  {name} [label=\"{label}\", shape=plaintext];"));
                    name
                }
            };
            if let Some(previous) = previous {
                if self.edges.insert((previous.clone(), name.clone())) {
                    self.lines.push(format!("  {previous} -> {name} [label=\"waits on\"];"));
                }
            }
            previous = Some(name);
        }
    }

    pub(super) fn node(&mut self, picture: &Picture, level: &Level, this: bool) -> String {
        let id = level.look.id;
        let known = self.nodes.iter().find(|(node, _)| id != 0 && *node == id);
        let name = match known {
            Some((_, name)) => return name.clone(),
            None if id == 0 => {
                self.others += 1;
                format!("s{}", self.others)
            }
            None => {
                let name = format!("c{}", self.nodes.len());
                self.nodes.push((id, name.clone()));
                name
            }
        };
        let mut label = Vec::new();
        if this {
            label.push(picture.name.clone());
        }
        let mut state = String::new();
        level.state(if this { picture.value.as_deref() } else { None }, None, &mut state);
        label.push(state);
        label.extend(level.details());
        let label: String = label.iter().map(|line| format!("{}\\l", escape(line))).collect();
        self.lines.push(format!("  {name} [label=\"{label}\"];"));
        name
    }

    pub(super) fn finish(self) -> String {
        let mut out =
            String::from("digraph deferreds {\n  node [shape=box, fontname=\"monospace\"];\n");
        for line in self.lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('}');
        out
    }
}

/// Escapes a line for a DOT label in double quotes.
fn escape(line: &str) -> String {
    line.replace('\\', "\\\\").replace('"', "\\\"")
}
