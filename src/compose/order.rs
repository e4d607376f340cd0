//! The order services start in: every service after what it depends on
//! (file order otherwise). A cycle is an error naming it.

use super::model::Project;
use super::{ComposeError, Result};

/// Indexes of `p.services`, dependencies first.
pub fn order(p: &Project) -> Result<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        p: &Project,
        i: usize,
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<()> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let from = path.iter().position(|x| *x == i).unwrap_or(0);
                let mut names: Vec<&str> = path[from..]
                    .iter()
                    .map(|x| p.services[*x].name.as_str())
                    .collect();
                names.push(&p.services[i].name);
                return Err(ComposeError::At {
                    file: p.file.clone(),
                    line: p.services[i].line,
                    msg: format!("depends_on has a cycle: {}", names.join(" -> ")),
                });
            }
            Mark::New => {}
        }
        marks[i] = Mark::Visiting;
        path.push(i);
        for dep in &p.services[i].depends_on {
            if let Some(j) = p.services.iter().position(|s| s.name == dep.service) {
                visit(p, j, marks, path, out)?;
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        out.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::New; p.services.len()];
    let mut out = Vec::new();
    for i in 0..p.services.len() {
        visit(p, i, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}
