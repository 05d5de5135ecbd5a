//! Applying one change to the elements of a scope: for each element the cascade winner of
//! the aspect is edited in place when it is the subject's own rule (following `var()` into
//! the subject's variables); elsewhere a declaration is added to the subject's rule that
//! will win, or a new rule to the element's stylesheet.

use devflow_reference::color::{ciede2000, parse_color_str};

use super::{Outcome, Pick, Planner, Touched, ValueOp};
use crate::edits::Note;
use crate::properties::{unprefixed, Aspect};
use crate::selector::{self, State};
use crate::site::{FileKind, Win};
use crate::subject::Scope;
use crate::tokens::LengthRole;
use crate::values::{
    self, components, font_shorthand_parts, px_in_unit, scale_length, splice, to_px, Piece,
};

impl Planner<'_> {
    /// Applies one change to every element of the scope. Returns the elements changed.
    pub(super) fn change(&mut self, scope: &Scope, aspect: Aspect, op: &ValueOp) -> Vec<Touched> {
        self.touched_rules.clear();
        let mut touched = Vec::new();
        let edited_before = self
            .edits
            .notes
            .iter()
            .filter(|n| n.before.is_some())
            .count();
        let mut handled: Vec<usize> = Vec::new();
        let mut pending: Vec<(usize, Option<Win>)> = Vec::new();
        let any_markup = scope
            .instances
            .iter()
            .any(|&i| !self.site.elements[i].synthetic);
        for &e in &scope.instances {
            let wins = self.site.winners(e, aspect, State::Rest);
            let mut base_handled = false;
            let mut base_win = None;
            for w in &wins {
                let owned = self.site.rule_editable(w.rule) && scope.pure(&self.site, w.rule);
                let before = self.current(e, w);
                if owned {
                    match self
                        .change_declaration(scope, e, w.rule, w.decl, &w.context, aspect, op, 0)
                    {
                        Outcome::Changed => {
                            if w.context.is_empty() {
                                base_handled = true;
                                touched.push(Touched {
                                    element: e,
                                    before,
                                    added: false,
                                });
                            }
                        }
                        Outcome::Same => base_handled |= w.context.is_empty(),
                        Outcome::NotApplicable => {
                            if w.context.is_empty() {
                                base_win = Some(w.clone());
                            }
                        }
                    }
                } else if w.context.is_empty() {
                    base_win = Some(w.clone());
                }
            }
            if base_handled {
                handled.push(e);
            } else {
                pending.push((e, base_win));
            }
        }
        for (e, win) in pending {
            if self.site.elements[e].synthetic && any_markup {
                continue;
            }
            if self.site.elements[e].synthetic && !handled.is_empty() {
                continue;
            }
            if aspect.inherited() && self.has_ancestor_in(e, &handled) {
                continue;
            }
            // The page's background is set once per page, on its outermost element.
            if scope.is_page_level() {
                let page = self.site.elements[e].page;
                if handled.iter().any(|&h| self.site.elements[h].page == page) {
                    continue;
                }
            }
            // Scaling adds a value only where nothing of the subject had one to scale.
            let edited_now = self
                .edits
                .notes
                .iter()
                .filter(|n| n.before.is_some())
                .count();
            if !matches!(op, ValueOp::Set(_)) && edited_now > edited_before {
                continue;
            }
            if let Some(w) = &win {
                let decl = &self.site.rules[w.rule].declarations[w.decl];
                if decl.important {
                    continue;
                }
                // A component's own class styles this element (`.list-group-item-light` on a
                // link): respected, unless the person pointed at the element.
                if scope.target.is_none() && self.class_styled(e, w.rule) {
                    continue;
                }
            }
            let before = win.as_ref().and_then(|w| self.current(e, w));
            let Some(value) = self.new_value(e, aspect, op, before.as_deref()) else {
                continue;
            };
            if self.add_override(scope, e, aspect, value, win.as_ref()) {
                handled.push(e);
                touched.push(Touched {
                    element: e,
                    before,
                    added: true,
                });
            }
        }
        touched
    }

    /// Whether the rule styles the element through a class or id of its own.
    pub(super) fn class_styled(&self, element: usize, rule: usize) -> bool {
        let Some(parsed) = self.site.parsed.get(rule) else {
            return false;
        };
        parsed.iter().flatten().any(|complex| {
            selector::matches(complex, &self.site.elements, element, State::Rest)
                && complex
                    .subject()
                    .is_some_and(|c| !c.classes.is_empty() || !c.ids.is_empty())
        })
    }

    pub(super) fn has_ancestor_in(&self, element: usize, set: &[usize]) -> bool {
        let mut at = self.site.elements.get(element).and_then(|e| e.parent);
        let mut guard = 0;
        while let Some(a) = at {
            if set.contains(&a) {
                return true;
            }
            guard += 1;
            if guard > 256 {
                break;
            }
            at = self.site.elements.get(a).and_then(|e| e.parent);
        }
        false
    }

    /// The winning value for the element with its `var()`s resolved.
    pub(super) fn current(&self, element: usize, win: &Win) -> Option<String> {
        let decl = self.site.rules.get(win.rule)?.declarations.get(win.decl)?;
        Some(self.site.resolve(element, &decl.value, &win.context))
    }

    pub(super) fn note(
        &self,
        rule: usize,
        decl: Option<usize>,
        property: &str,
        after: &str,
        token: Option<String>,
    ) -> Note {
        let r = &self.site.rules[rule];
        let d = decl.and_then(|d| r.declarations.get(d));
        Note {
            file: self.site.files[r.source].path.clone(),
            line: d.map_or(r.line, |d| d.line),
            selector: if r.is_attribute() {
                "style=\"…\"".to_string()
            } else {
                r.selector_text.clone()
            },
            property: property.to_string(),
            before: d.map(|d| d.value.clone()),
            after: after.to_string(),
            token,
        }
    }

    /// Replaces part of a declaration's value. `Same` when the edit would change nothing or
    /// the declaration is already being edited.
    pub(super) fn edit_value(
        &mut self,
        rule: usize,
        decl: usize,
        replacements: Vec<(std::ops::Range<usize>, String)>,
        token: Option<String>,
    ) -> Outcome {
        let Some(d) = self.site.rules[rule].declarations.get(decl).cloned() else {
            return Outcome::NotApplicable;
        };
        let new_value = splice(&d.value, replacements);
        if new_value == d.value {
            return Outcome::Same;
        }
        let source = self.site.rules[rule].source;
        let note = self.note(rule, Some(decl), &d.property, &new_value, token);
        if self
            .edits
            .replace(source, d.value_span.clone(), new_value, note)
        {
            self.touched_rules.insert(rule);
            Outcome::Changed
        } else {
            Outcome::Same
        }
    }

    /// Changes one declaration (following `var()` into the subject's own variables).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn change_declaration(
        &mut self,
        scope: &Scope,
        element: usize,
        rule: usize,
        decl: usize,
        context: &str,
        aspect: Aspect,
        op: &ValueOp,
        depth: usize,
    ) -> Outcome {
        let Some(d) = self.site.rules[rule].declarations.get(decl).cloned() else {
            return Outcome::NotApplicable;
        };
        let value = d.value.as_str();
        let property = unprefixed(&d.property).to_string();
        let custom = d.property.starts_with("--");
        let part = if property == "font" {
            let (size, fam) = font_shorthand_parts(value);
            match aspect {
                Aspect::FontSize => size,
                Aspect::FontFamily => fam,
                _ => None,
            }
        } else {
            Some(0..value.len())
        };
        let Some(part) = part else {
            return Outcome::NotApplicable;
        };
        let comps: Vec<values::Component> = components(value)
            .into_iter()
            .filter(|c| c.span.start >= part.start && c.span.end <= part.end)
            .collect();
        let whole_var = match comps.as_slice() {
            [c] if matches!(c.piece, Piece::Var { .. })
                && value[part.clone()].trim() == &value[c.span.clone()] =>
            {
                match &c.piece {
                    Piece::Var { name, .. } => Some((name.clone(), c.span.clone())),
                    _ => None,
                }
            }
            _ => None,
        };
        let token_of = |op: &ValueOp| match op {
            ValueOp::Set(p) => p.token.clone(),
            _ => None,
        };

        match op {
            ValueOp::Set(pick) => {
                let is_color = matches!(
                    aspect,
                    Aspect::Color | Aspect::BackgroundColor | Aspect::BorderColor
                );
                if is_color
                    && aspect == Aspect::BackgroundColor
                    && !scope.is_page_level()
                    && matches!(
                        value.trim().to_ascii_lowercase().as_str(),
                        "transparent" | "none"
                    )
                {
                    return Outcome::Same;
                }
                let longhand = custom
                    || !is_color
                    || aspect.longhands().contains(&property.as_str())
                    || property.ends_with("-color");
                if let Some((name, span)) = &whole_var {
                    if self.follow(scope, element, name, context, aspect, op, depth) {
                        return Outcome::Changed;
                    }
                    return self.edit_value(
                        rule,
                        decl,
                        vec![(span.clone(), pick.css.clone())],
                        pick.token.clone(),
                    );
                }
                if longhand {
                    let trimmed = value[part.clone()].trim();
                    let same_color = is_color
                        && matches!(
                            (parse_color_str(trimmed), pick.rgba()),
                            (Some(a), Some(b)) if ciede2000(a.to_lab(), b.to_lab()) < 0.5 && (a.a - b.a).abs() < 0.01
                        );
                    if trimmed == pick.css || same_color {
                        return Outcome::Same;
                    }
                    return self.edit_value(
                        rule,
                        decl,
                        vec![(part, pick.css.clone())],
                        pick.token.clone(),
                    );
                }
                // A shorthand (`background`, `border`): change its colour, wherever it is.
                if let Some(c) = comps
                    .iter()
                    .find(|c| matches!(c.piece, Piece::Color(_) | Piece::ColorKeyword))
                {
                    return self.edit_value(
                        rule,
                        decl,
                        vec![(c.span.clone(), pick.css.clone())],
                        pick.token.clone(),
                    );
                }
                for c in &comps {
                    if let Piece::Var { name, .. } = &c.piece {
                        let resolved = self.site.resolve(element, &value[c.span.clone()], context);
                        let holds_color = components(&resolved)
                            .iter()
                            .any(|x| matches!(x.piece, Piece::Color(_) | Piece::ColorKeyword));
                        if !holds_color {
                            continue;
                        }
                        if self.follow(scope, element, name, context, aspect, op, depth) {
                            return Outcome::Changed;
                        }
                        return self.edit_value(
                            rule,
                            decl,
                            vec![(c.span.clone(), pick.css.clone())],
                            pick.token.clone(),
                        );
                    }
                }
                let appended = format!("{} {}", value.trim_end(), pick.css);
                self.edit_value(
                    rule,
                    decl,
                    vec![(0..value.len(), appended)],
                    pick.token.clone(),
                )
            }
            ValueOp::Scale { .. } | ValueOp::Round { .. } => {
                let mut replacements = Vec::new();
                let mut lengths = 0;
                for c in &comps {
                    if let Piece::Length {
                        value: v,
                        unit,
                        place,
                    } = &c.piece
                    {
                        if *place == values::Place::Function {
                            continue;
                        }
                        lengths += 1;
                        let new = self.scaled(*v, unit, *place, op);
                        if new != value[c.span.clone()] {
                            replacements.push((c.span.clone(), new));
                        }
                    }
                }
                if lengths > 0 {
                    if replacements.is_empty() {
                        return Outcome::Same;
                    }
                    return self.edit_value(rule, decl, replacements, token_of(op));
                }
                let mut any = false;
                let mut inline = Vec::new();
                for c in &comps {
                    if let Piece::Var { name, .. } = &c.piece {
                        if self.follow(scope, element, name, context, aspect, op, depth) {
                            any = true;
                            continue;
                        }
                        let resolved = self.site.resolve(element, &value[c.span.clone()], context);
                        let resolved_comps = components(&resolved);
                        if let [values::Component {
                            piece:
                                Piece::Length {
                                    value: v,
                                    unit,
                                    place,
                                },
                            ..
                        }] = resolved_comps.as_slice()
                        {
                            inline.push((c.span.clone(), self.scaled(*v, unit, *place, op)));
                        }
                    }
                }
                if !inline.is_empty() {
                    let outcome = self.edit_value(rule, decl, inline, None);
                    return if any { Outcome::Changed } else { outcome };
                }
                if any {
                    return Outcome::Changed;
                }
                // A square corner (`0`) being rounded gets the middle radius.
                if let ValueOp::Round { .. } = op {
                    let trimmed = value[part.clone()].trim();
                    if trimmed == "0" || trimmed.eq_ignore_ascii_case("none") {
                        let pick = self.default_radius();
                        return self.edit_value(rule, decl, vec![(part, pick.css)], pick.token);
                    }
                }
                Outcome::NotApplicable
            }
        }
    }

    /// Follows `var(--name)` to its definition when that belongs to the subject; true when
    /// the definition was changed (or already right).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn follow(
        &mut self,
        scope: &Scope,
        element: usize,
        name: &str,
        context: &str,
        aspect: Aspect,
        op: &ValueOp,
        depth: usize,
    ) -> bool {
        if depth >= 6 {
            return false;
        }
        let Some((rule, decl)) = self.site.var_definition(element, name, context) else {
            return false;
        };
        if !self.site.rule_editable(rule) {
            return false;
        }
        let pure = scope.pure(&self.site, rule);
        let root = Scope::is_root_rule(&self.site, rule);
        let belongs = scope.owns_variable(name) || (pure && (!root || scope.is_page_level()));
        if !belongs {
            return false;
        }
        matches!(
            self.change_declaration(scope, element, rule, decl, context, aspect, op, depth + 1),
            Outcome::Changed | Outcome::Same
        )
    }

    pub(super) fn default_radius(&self) -> Pick {
        match self.tokens.middle(LengthRole::Radius) {
            Some(px) => Pick {
                css: px_in_unit(px, "px"),
                token: self.tokens.path_at(LengthRole::Radius, px),
            },
            None => Pick::literal("8px"),
        }
    }

    /// A length after the change: the next token of the scale when the reference has one,
    /// else multiplied.
    pub(super) fn scaled(
        &self,
        value: f64,
        unit: &str,
        place: values::Place,
        op: &ValueOp,
    ) -> String {
        let (up, factor, steps, role) = match op {
            ValueOp::Scale {
                up,
                factor,
                steps,
                role,
            } => (*up, *factor, *steps, *role),
            ValueOp::Round { factor, steps } => (true, *factor, *steps, LengthRole::Radius),
            ValueOp::Set(p) => return p.css.clone(),
        };
        if value == 0.0 {
            return format!("0{unit}");
        }
        if place == values::Place::Plain {
            if let Some(px) = to_px(value, unit) {
                let mut at = px.abs();
                let mut stepped = false;
                for _ in 0..steps {
                    match self.tokens.step(role, at, up) {
                        Some(next) => {
                            at = next;
                            stepped = true;
                        }
                        None => break,
                    }
                }
                let ratio = at / px.abs();
                if stepped && (0.3..=3.0).contains(&ratio) {
                    let unit = if unit == "pt" { "px" } else { unit };
                    return px_in_unit(at * value.signum(), unit);
                }
            }
        }
        scale_length(value, unit, factor)
    }

    /// The value to add for an element no rule of the subject styles.
    pub(super) fn new_value(
        &self,
        element: usize,
        aspect: Aspect,
        op: &ValueOp,
        current: Option<&str>,
    ) -> Option<String> {
        match op {
            ValueOp::Set(pick) => Some(pick.css.clone()),
            ValueOp::Scale { up, role, .. } => {
                let current = current.map(|c| {
                    if aspect == Aspect::FontSize {
                        let (size, _) = font_shorthand_parts(c);
                        match size {
                            Some(r) if c.contains(' ') => c[r].to_string(),
                            _ => c.to_string(),
                        }
                    } else {
                        c.to_string()
                    }
                });
                if let Some(current) = &current {
                    let comps = components(current);
                    let mut replacements = Vec::new();
                    for c in &comps {
                        if let Piece::Length { value, unit, place } = &c.piece {
                            if *place != values::Place::Function {
                                replacements
                                    .push((c.span.clone(), self.scaled(*value, unit, *place, op)));
                            }
                        }
                    }
                    if !replacements.is_empty() {
                        return Some(splice(current, replacements));
                    }
                }
                if !up {
                    return None;
                }
                let tag = self
                    .site
                    .elements
                    .get(element)
                    .map(|e| e.tag.as_str())
                    .unwrap_or("");
                let base_px = match (aspect, tag) {
                    (Aspect::FontSize, "h1") => 32.0,
                    (Aspect::FontSize, "h2") => 24.0,
                    (Aspect::FontSize, "h3") => 18.72,
                    (Aspect::FontSize, "h5") => 13.28,
                    (Aspect::FontSize, "h6") => 10.72,
                    (Aspect::FontSize, _) => 16.0,
                    _ => {
                        // Spacing that was zero: the scale's first comfortable step.
                        let roomy = matches!(tag, "main" | "section" | "article" | "body");
                        let px = self
                            .tokens
                            .step(*role, if roomy { 15.0 } else { 7.0 }, true)
                            .unwrap_or(if roomy { 16.0 } else { 8.0 });
                        return Some(px_in_unit(px, "rem"));
                    }
                };
                Some(self.scaled(base_px / values::ROOT_PX, "rem", values::Place::Plain, op))
            }
            ValueOp::Round { .. } => {
                if let Some(current) = current {
                    let comps = components(current);
                    let lengths: Vec<_> = comps
                        .iter()
                        .filter_map(|c| match &c.piece {
                            Piece::Length { value, unit, place } if *value != 0.0 => {
                                Some((c.span.clone(), self.scaled(*value, unit, *place, op)))
                            }
                            _ => None,
                        })
                        .collect();
                    if !lengths.is_empty() {
                        return Some(splice(current, lengths));
                    }
                }
                Some(self.default_radius().css)
            }
        }
    }

    /// Adds a declaration where it will win for the element: the subject's best rule that
    /// beats the current winner, else a new rule in the element's stylesheet.
    pub(super) fn add_override(
        &mut self,
        scope: &Scope,
        element: usize,
        aspect: Aspect,
        value: String,
        win: Option<&Win>,
    ) -> bool {
        let property = aspect.property();
        let applied = self.site.applicable(element, State::Rest);
        let winner_key = win.map(|w| {
            let spec = applied
                .iter()
                .find(|a| a.rule == w.rule)
                .map(|a| a.specificity)
                .unwrap_or_default();
            let r = &self.site.rules[w.rule];
            (
                spec,
                (r.source, r.declarations.get(w.decl).map_or(0, |d| d.start)),
            )
        });
        // (share of selectors naming the subject ‰, selectors naming it, fewer selectors,
        // earlier rule)
        type Rank = (
            usize,
            usize,
            std::cmp::Reverse<usize>,
            std::cmp::Reverse<usize>,
        );
        let mut best: Option<(usize, Rank)> = None;
        for a in applied.iter() {
            let r = &self.site.rules[a.rule];
            if !r.conditions.is_empty() || r.is_attribute() || !self.site.rule_editable(a.rule) {
                continue;
            }
            if !scope.pure(&self.site, a.rule) {
                continue;
            }
            if let Some((spec, order)) = winner_key {
                if (a.specificity, (r.source, r.close)) <= (spec, order) {
                    continue;
                }
            }
            let (owned, total, _) = scope.ownership(&self.site, a.rule);
            // Most of its selectors the subject's, then covering more of it, then fewer
            // selectors, then the earliest.
            let key = (
                owned * 1000 / total.max(1),
                owned,
                std::cmp::Reverse(total),
                std::cmp::Reverse(a.rule),
            );
            if best.as_ref().is_none_or(|(_, k)| key > *k) {
                best = Some((a.rule, key));
            }
        }
        let token = None;
        if let Some((rule, _)) = best {
            if self.edits.adds(rule, property) {
                return true;
            }
            let note = self.note(rule, None, property, &value, token);
            self.edits.add_declaration(rule, property, value, note);
            self.touched_rules.insert(rule);
            return true;
        }
        let Some((sheet, block_end)) = self.home_sheet(element) else {
            return false;
        };
        let mut selector_text = scope.selector_for(&self.site, element);
        if let (Some(w), Some((spec, _))) = (win, winner_key) {
            let ours = selector::parse(&selector_text)
                .map(|c| c.specificity())
                .unwrap_or_default();
            if ours <= spec {
                // Repeat the winner's own selector: same specificity, later in the cascade.
                if let Some(text) = self.site.rules[w.rule]
                    .selectors
                    .iter()
                    .zip(&self.site.parsed[w.rule])
                    .filter_map(|(text, parsed)| {
                        let parsed = parsed.as_ref()?;
                        selector::matches(parsed, &self.site.elements, element, State::Rest)
                            .then(|| (parsed.specificity(), text))
                    })
                    .max_by_key(|(s, _)| *s)
                    .map(|(_, text)| text.clone())
                {
                    selector_text = text;
                }
            }
        }
        if selector_text.is_empty() {
            return false;
        }
        let note = Note {
            file: self.site.files[sheet].path.clone(),
            line: crate::markup::line_of(
                &self.site.files[sheet].text,
                block_end.unwrap_or(self.site.files[sheet].text.len()),
            ) + 1,
            selector: selector_text.clone(),
            property: property.to_string(),
            before: None,
            after: value.clone(),
            token,
        };
        self.edits
            .add_rule(sheet, block_end, &selector_text, property, value, note);
        self.doubts += 0.03;
        true
    }

    /// Where a new rule for the element goes: a stylesheet its page links, else its page's
    /// `<style>` block, else the site's main stylesheet.
    pub(super) fn home_sheet(&self, element: usize) -> Option<(usize, Option<usize>)> {
        let site = &self.site;
        if let Some(page) = site.elements.get(element).and_then(|e| e.page) {
            let page_path = &site.files[page].path;
            for (p, href) in &site.markup.stylesheet_links {
                if *p != page {
                    continue;
                }
                let Some(path) = crate::site::resolve_href(page_path, href) else {
                    continue;
                };
                if let Some(i) = site.files.iter().position(|f| f.path == path) {
                    if matches!(site.kinds[i], FileKind::Css { editable: true }) {
                        return Some((i, None));
                    }
                }
            }
            if matches!(site.kinds[page], FileKind::Html { editable: true }) {
                if let Some((_, range, _)) =
                    site.markup.style_blocks.iter().find(|(f, _, _)| *f == page)
                {
                    return Some((page, Some(range.end)));
                }
            }
        }
        match site.main_stylesheet {
            Some(main) => Some((main, None)),
            None => site
                .markup
                .style_blocks
                .first()
                .map(|(f, range, _)| (*f, Some(range.end))),
        }
    }
}
