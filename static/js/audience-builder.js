/* Quanyu audience builder.
 *
 * Renders an audience definition (the DSL's JSON) as nested groups of conditions and edits
 * that JSON in place: every control writes straight into the node it shows, so the JSON tab
 * (the form's <textarea name="definition">) always holds exactly the tree on screen, with its
 * keys in their original order. Nodes the pickers cannot show (several comparisons in one
 * aggregate, a double negation…) are edited as JSON in place, never rewritten.
 *
 * Markup: <div class="qb" data-catalogue="URL"> with .qb-visual, .qb-json (the textarea) and
 * tab buttons [data-qb-tab]. The textarea is htmx-wired for the live count; the builder fires
 * "qb-change" on it after each edit.
 */
(function () {
  "use strict";

  var OPS_BY_TYPE = {
    text: ["eq", "ne", "in", "nin", "contains", "startswith", "is_null"],
    choice: ["eq", "ne", "in", "nin", "is_null"],
    number: ["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "nin", "is_null"],
    date: ["eq", "gt", "gte", "lt", "lte", "between", "is_null"],
    datetime: ["gt", "gte", "lt", "lte", "between", "is_null"],
  };
  var COMPARATORS = ["gte", "gt", "eq", "ne", "lt", "lte"];
  var LEAF_KINDS = ["attr", "tag", "event", "identity", "consent"];
  var AGGREGATES = ["count", "sum", "avg", "first", "last"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function select(options, value, onchange, attrs) {
    var s = el("select", Object.assign({ class: "form-select form-select-sm" }, attrs || {}));
    var found = false;
    options.forEach(function (opt) {
      var o = el("option", { value: opt[0], text: opt[1] });
      if (String(opt[0]) === String(value)) {
        o.selected = true;
        found = true;
      }
      s.appendChild(o);
    });
    if (!found && value !== undefined && value !== null && value !== "") {
      var extra = el("option", { value: value, text: String(value) });
      extra.selected = true;
      s.insertBefore(extra, s.firstChild);
    }
    s.addEventListener("change", function () {
      onchange(s.value);
    });
    return s;
  }

  function input(value, onchange, attrs) {
    var i = el("input", Object.assign({ class: "form-control form-control-sm" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () {
      onchange(i.value);
    });
    return i;
  }

  function keysOf(node) {
    return node && typeof node === "object" && !Array.isArray(node) ? Object.keys(node) : [];
  }

  function kindOf(node) {
    var keys = keysOf(node);
    var kinds = ["all", "any", "not"].concat(LEAF_KINDS).filter(function (k) {
      return keys.indexOf(k) >= 0;
    });
    return kinds.length === 1 ? kinds[0] : null;
  }

  function joinPath(path, key) {
    if (typeof key === "number") return path + "[" + key + "]";
    return path ? path + "." + key : key;
  }

  function numberOr(text) {
    var trimmed = String(text).trim();
    return trimmed !== "" && !isNaN(Number(trimmed)) ? Number(trimmed) : text;
  }

  function Builder(root) {
    this.root = root;
    this.visual = root.querySelector(".qb-visual");
    this.textarea = root.querySelector("textarea");
    this.jsonError = root.querySelector(".qb-json-error");
    this.catalogue = null;
    this.holder = { root: { all: [] } };
    this.uid = 0;
    var self = this;
    root.querySelectorAll("[data-qb-tab]").forEach(function (button) {
      button.addEventListener("click", function () {
        self.showTab(button.getAttribute("data-qb-tab"));
      });
    });
    this.textarea.addEventListener("input", function () {
      self.readJson();
    });
    fetch(root.getAttribute("data-catalogue"), { credentials: "same-origin" })
      .then(function (r) {
        return r.json();
      })
      .then(function (catalogue) {
        self.catalogue = catalogue;
        self.L = catalogue.labels;
        self.readJson();
        self.render();
      });
  }

  Builder.prototype.readJson = function () {
    var text = this.textarea.value.trim();
    try {
      this.holder.root = text ? JSON.parse(text) : { all: [] };
      this.jsonError.textContent = "";
      return true;
    } catch (err) {
      this.jsonError.textContent = (this.L ? this.L.json_invalid : "") + err.message;
      return false;
    }
  };

  Builder.prototype.showTab = function (tab) {
    if (tab === "builder" && !this.readJson()) return; // stay on JSON until it parses
    this.root.querySelectorAll("[data-qb-tab]").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-qb-tab") === tab);
    });
    this.visual.classList.toggle("d-none", tab !== "builder");
    this.root.querySelector(".qb-json").classList.toggle("d-none", tab !== "json");
    if (tab === "builder") this.render();
  };

  Builder.prototype.changed = function (rerender) {
    this.textarea.value = JSON.stringify(this.holder.root, null, 2);
    this.jsonError.textContent = "";
    if (rerender) this.render();
    if (window.htmx) window.htmx.trigger(this.textarea, "qb-change");
  };

  Builder.prototype.render = function () {
    if (!this.catalogue) return;
    this.visual.innerHTML = "";
    this.visual.appendChild(this.node(this.holder, "root", "", null));
    applyMarks(this);
  };

  // One node at container[key]. `negation` is {container, key} of a {"not": …} around it.
  Builder.prototype.node = function (container, key, path, negation) {
    var node = container[key];
    var kind = kindOf(node);
    if (kind === "not" && keysOf(node).length === 1 && kindOf(node.not) !== "not" && !negation) {
      return this.node(node, "not", joinPath(path, "not"), { container: container, key: key });
    }
    if ((kind === "all" || kind === "any") && keysOf(node).length === 1 && Array.isArray(node[kind])) {
      return this.group(container, key, path, negation);
    }
    if (LEAF_KINDS.indexOf(kind) >= 0 && this.supported(node, kind)) {
      return this.leaf(container, key, path, negation);
    }
    return this.raw(container, key, path, negation);
  };

  Builder.prototype.notToggle = function (container, key, negation) {
    var self = this;
    var id = "qb-not-" + ++this.uid;
    var box = el("input", { type: "checkbox", class: "form-check-input", id: id, "data-qb": "not" });
    box.checked = !!negation;
    box.addEventListener("change", function () {
      if (negation) negation.container[negation.key] = container[key];
      else container[key] = { not: container[key] };
      self.changed(true);
    });
    return el("div", { class: "form-check form-check-inline text-nowrap me-2 mb-0" }, [
      box,
      el("label", { class: "form-check-label small", for: id, text: self.L.not }),
    ]);
  };

  Builder.prototype.removeButton = function (container, key, negation) {
    var self = this;
    var outer = negation || { container: container, key: key };
    if (!Array.isArray(outer.container)) return null;
    return el(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-outline-danger ms-auto",
        title: self.L.remove,
        "data-qb": "remove",
        onclick: function () {
          outer.container.splice(outer.key, 1);
          self.changed(true);
        },
      },
      [el("i", { class: "bi bi-x-lg" })]
    );
  };

  Builder.prototype.group = function (container, key, path, negation) {
    var self = this;
    var node = container[key];
    var kind = node.all ? "all" : "any";
    var children = node[kind];
    var header = el("div", { class: "d-flex align-items-center gap-2 flex-wrap qb-group-head" }, [
      this.notToggle(container, key, negation),
      select(
        [["all", this.L.all], ["any", this.L.any]],
        kind,
        function (value) {
          container[key] = {};
          container[key][value] = children;
          self.changed(true);
        },
        { "data-qb": "connector", style: "width:auto" }
      ),
      el("button", {
        type: "button",
        class: "btn btn-sm btn-outline-primary",
        "data-qb": "add-condition",
        text: "+ " + this.L.add_condition,
        onclick: function () {
          children.push(self.defaultLeaf("attr"));
          self.changed(true);
        },
      }),
      el("button", {
        type: "button",
        class: "btn btn-sm btn-outline-secondary",
        "data-qb": "add-group",
        text: "+ " + this.L.add_group,
        onclick: function () {
          children.push({ any: [self.defaultLeaf("attr")] });
          self.changed(true);
        },
      }),
      this.removeButton(container, key, negation),
    ]);
    var body = el("div", { class: "qb-children" });
    var childBase = joinPath(path, kind);
    children.forEach(function (child, index) {
      body.appendChild(self.node(children, index, joinPath(childBase, index), null));
    });
    if (!children.length) body.appendChild(el("div", { class: "small text-muted", text: this.L.empty_group }));
    return el("div", { class: "qb-group qb-" + kind, "data-path": path, "data-testid": "qb-group" }, [header, body]);
  };

  Builder.prototype.defaultLeaf = function (kind) {
    var c = this.catalogue;
    if (kind === "tag") return { tag: c.tags.length ? c.tags[0].name : "" };
    if (kind === "event") return { event: c.events.length ? c.events[0].name : "page_view", within: "30d" };
    if (kind === "identity") return { identity: c.identities[0][0] };
    if (kind === "consent") return { consent: c.consents[0][0] };
    return { attr: "city", op: "eq", value: "" };
  };

  Builder.prototype.supported = function (node, kind) {
    var keys = keysOf(node);
    var allowed = {
      attr: ["attr", "op", "value"],
      tag: ["tag"],
      event: ["event", "within", "between", "where", "channel"].concat(AGGREGATES),
      identity: ["identity", "scope"],
      consent: ["consent", "status"],
    }[kind];
    if (keys.some(function (k) { return allowed.indexOf(k) < 0; })) return false;
    if (kind === "attr") {
      return typeof node.attr === "string" && (node.op === undefined || typeof node.op === "string");
    }
    if (kind === "tag") {
      var t = node.tag;
      if (typeof t === "string" || typeof t === "number") return true;
      var modes = keysOf(t);
      return modes.length === 1 && ["any", "all", "none"].indexOf(modes[0]) >= 0 && Array.isArray(t[modes[0]]);
    }
    if (kind === "event") {
      if (typeof node.event !== "string") return false;
      if (node.within !== undefined && !/^\d+\s*[mhd]$/.test(String(node.within))) return false;
      if (node.between !== undefined && !(Array.isArray(node.between) && node.between.length === 2)) return false;
      var aggs = AGGREGATES.filter(function (a) { return a in node; });
      if (aggs.length > 1) return false;
      if (aggs.length) {
        var comps = keysOf(node[aggs[0]]).filter(function (k) { return k !== "prop"; });
        if (comps.length !== 1 || (comps[0] === "between")) return false;
      }
      if (node.where !== undefined) {
        if (!Array.isArray(node.where)) return false;
        return node.where.every(function (w) {
          return keysOf(w).every(function (k) { return ["prop", "op", "value"].indexOf(k) >= 0; }) && typeof w.prop === "string";
        });
      }
      return true;
    }
    return typeof node[kind] === "string";
  };

  Builder.prototype.leaf = function (container, key, path, negation) {
    var self = this;
    var node = container[key];
    var kind = kindOf(node);
    var typeSelect = select(
      LEAF_KINDS.map(function (k) { return [k, self.L[k]]; }),
      kind,
      function (value) {
        container[key] = self.defaultLeaf(value);
        self.changed(true);
      },
      { "data-qb": "kind", style: "width:auto" }
    );
    var controls = el("div", { class: "d-flex align-items-center gap-2 flex-wrap flex-grow-1" });
    this["controls_" + kind](node, controls, container, key);
    var row = el("div", { class: "d-flex align-items-start gap-2" }, [
      this.notToggle(container, key, negation),
      typeSelect,
      controls,
      this.removeButton(container, key, negation),
    ]);
    return el("div", { class: "qb-leaf", "data-path": path, "data-testid": "qb-leaf" }, [row]);
  };

  Builder.prototype.raw = function (container, key, path, negation) {
    var self = this;
    var area = el("textarea", { class: "form-control form-control-sm font-monospace", rows: 3 });
    area.value = JSON.stringify(container[key]);
    var note = el("div", { class: "small text-muted", text: this.L.raw });
    area.addEventListener("change", function () {
      try {
        var parsed = JSON.parse(area.value);
        if (negation) negation.container[negation.key] = { not: parsed };
        else container[key] = parsed;
        note.textContent = self.L.raw;
        self.changed(true);
      } catch (err) {
        note.textContent = self.L.json_invalid + err.message;
      }
    });
    var outer = negation ? negation : { container: container, key: key };
    return el("div", { class: "qb-leaf qb-raw", "data-path": path, "data-testid": "qb-raw" }, [
      el("div", { class: "d-flex gap-2" }, [area, this.removeButton(outer.container, outer.key, null)]),
      note,
    ]);
  };

  // --- attr ---------------------------------------------------------------------------------

  Builder.prototype.fieldInfo = function (name) {
    var found = this.catalogue.fields.filter(function (f) { return f.name === name; })[0];
    if (found) return { type: found.choices ? "choice" : found.type, choices: found.choices };
    return { type: "text", custom: name.indexOf("attributes.") === 0 };
  };

  Builder.prototype.controls_attr = function (node, box) {
    var self = this;
    var info = this.fieldInfo(node.attr);
    var options = this.catalogue.fields.map(function (f) { return [f.name, f.label]; });
    options.push(["attributes.", this.L.custom_attr]);
    var isCustom = node.attr.indexOf("attributes.") === 0;
    box.appendChild(
      select(options, isCustom ? "attributes." : node.attr, function (value) {
        node.attr = value === "attributes." ? "attributes." + (self.catalogue.attributes[0] || "key") : value;
        var next = self.fieldInfo(node.attr);
        node.op = OPS_BY_TYPE[next.type][0];
        node.value = next.type === "number" ? 0 : next.choices ? next.choices[0][0] : "";
        self.changed(true);
      }, { "data-qb": "field", style: "width:auto" })
    );
    if (isCustom) {
      var listId = "qb-attrs-" + ++this.uid;
      box.appendChild(input(node.attr.slice("attributes.".length), function (value) {
        node.attr = "attributes." + value.trim();
        self.changed(false);
      }, { list: listId, placeholder: this.L.attr_key, style: "width:9rem", "data-qb": "attr-key" }));
      box.appendChild(el("datalist", { id: listId }, this.catalogue.attributes.map(function (a) {
        return el("option", { value: a });
      })));
    }
    var ops = OPS_BY_TYPE[info.type];
    var op = node.op === undefined ? "eq" : node.op;
    box.appendChild(
      select(ops.map(function (o) { return [o, self.L.ops[o]]; }), op, function (value) {
        node.op = value;
        node.value = self.coerce(node.value, value, info);
        self.changed(true);
      }, { "data-qb": "op", style: "width:auto" })
    );
    this.valueEditor(node, "value", op, info, box);
  };

  Builder.prototype.coerce = function (value, op, info) {
    var first = Array.isArray(value) ? value[0] : value;
    if (typeof first === "boolean") first = info.type === "number" ? 0 : "";
    if (op === "is_null") return true;
    if (op === "in" || op === "nin") return first === undefined || first === "" ? [] : [first];
    if (op === "between") return [first === undefined ? "" : first, first === undefined ? "" : first];
    return first === undefined ? "" : first;
  };

  Builder.prototype.scalarEditor = function (value, info, onchange, extra) {
    var self = this;
    if (info.choices) {
      return select(info.choices, value, onchange, Object.assign({ style: "width:auto" }, extra));
    }
    if (info.type === "number") {
      return input(value, function (v) { onchange(v === "" ? v : Number(v)); }, Object.assign({ type: "number", step: "any", style: "width:8rem" }, extra));
    }
    if (info.type === "date") return input(value, onchange, Object.assign({ type: "date", style: "width:auto" }, extra));
    if (info.type === "datetime") {
      return input(value, onchange, Object.assign({ style: "width:13rem", placeholder: "2026-05-01T10:00:00+08:00" }, extra));
    }
    return input(value, function (v) { onchange(info.custom ? numberOr(v) : v); }, Object.assign({ style: "width:12rem", placeholder: self.L.value }, extra));
  };

  Builder.prototype.valueEditor = function (node, prop, op, info, box) {
    var self = this;
    var value = node[prop];
    if (op === "is_null") {
      box.appendChild(select([["true", this.L.yes], ["false", this.L.no]], String(value !== false), function (v) {
        node[prop] = v === "true";
        self.changed(false);
      }, { "data-qb": "value", style: "width:auto" }));
      return;
    }
    if (op === "between") {
      var pair = Array.isArray(value) ? value : [value, value];
      node[prop] = pair;
      [0, 1].forEach(function (i) {
        box.appendChild(self.scalarEditor(pair[i], info, function (v) {
          pair[i] = v;
          self.changed(false);
        }, { "data-qb": "value-" + i }));
      });
      return;
    }
    if (op === "in" || op === "nin") {
      var list = Array.isArray(value) ? value : [];
      if (info.choices) {
        var multi = el("select", { class: "form-select form-select-sm", multiple: "multiple", size: 3, "data-qb": "value", style: "width:auto" });
        info.choices.forEach(function (c) {
          var o = el("option", { value: c[0], text: c[1] });
          o.selected = list.indexOf(c[0]) >= 0;
          multi.appendChild(o);
        });
        multi.addEventListener("change", function () {
          node[prop] = Array.prototype.filter.call(multi.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
          self.changed(false);
        });
        box.appendChild(multi);
      } else {
        box.appendChild(input(list.join(", "), function (v) {
          var parts = v.split(/[,，]/).map(function (p) { return p.trim(); }).filter(Boolean);
          node[prop] = info.type === "number" || info.custom ? parts.map(numberOr) : parts;
          self.changed(false);
        }, { placeholder: this.L.values_hint, style: "width:14rem", "data-qb": "value" }));
      }
      return;
    }
    box.appendChild(this.scalarEditor(value, info, function (v) {
      node[prop] = v;
      self.changed(false);
    }, { "data-qb": "value" }));
  };

  // --- tag ----------------------------------------------------------------------------------

  Builder.prototype.tagOptions = function () {
    var counts = {};
    this.catalogue.tags.forEach(function (t) { counts[t.name] = (counts[t.name] || 0) + 1; });
    return this.catalogue.tags.map(function (t) {
      // a name shared by several tags must be referred to by id (the DSL's rule)
      return [counts[t.name] > 1 ? t.id : t.name, t.group + " / " + t.name];
    });
  };

  Builder.prototype.controls_tag = function (node, box) {
    var self = this;
    var spec = node.tag;
    var mode = typeof spec === "object" ? keysOf(spec)[0] : "one";
    var options = this.tagOptions();
    box.appendChild(select(
      [["one", this.L.has_tag], ["any", this.L.any_of], ["all", this.L.all_of], ["none", this.L.none_of]],
      mode,
      function (value) {
        var current = typeof spec === "object" ? spec[mode] : [spec];
        node.tag = value === "one" ? current[0] || "" : {};
        if (value !== "one") node.tag[value] = current.filter(function (x) { return x !== ""; });
        self.changed(true);
      },
      { "data-qb": "tag-mode", style: "width:auto" }
    ));
    if (mode === "one") {
      box.appendChild(select(options, spec, function (value) {
        node.tag = isNaN(Number(value)) ? value : Number(value);
        self.changed(false);
      }, { "data-qb": "tag", style: "width:auto" }));
      return;
    }
    var chosen = spec[mode].map(String);
    var multi = el("select", { class: "form-select form-select-sm", multiple: "multiple", size: 4, "data-qb": "tag", style: "width:auto" });
    options.forEach(function (opt) {
      var o = el("option", { value: opt[0], text: opt[1] });
      o.selected = chosen.indexOf(String(opt[0])) >= 0;
      multi.appendChild(o);
    });
    multi.addEventListener("change", function () {
      spec[mode] = Array.prototype.filter.call(multi.options, function (o) { return o.selected; }).map(function (o) {
        return isNaN(Number(o.value)) ? o.value : Number(o.value);
      });
      self.changed(false);
    });
    box.appendChild(multi);
  };

  // --- event --------------------------------------------------------------------------------

  Builder.prototype.eventInfo = function (name) {
    return this.catalogue.events.filter(function (e) { return e.name === name; })[0] || { props: [] };
  };

  Builder.prototype.controls_event = function (node, box) {
    var self = this;
    var listId = "qb-events-" + ++this.uid;
    box.appendChild(el("datalist", { id: listId }, this.catalogue.events.map(function (e) {
      return el("option", { value: e.name, label: e.label });
    })));
    box.appendChild(input(node.event, function (value) {
      node.event = value.trim();
      self.changed(false);
    }, { list: listId, style: "width:11rem", "data-qb": "event" }));
    // when
    var when = "within" in node ? "within" : "between" in node ? "between" : "any";
    box.appendChild(select([["any", this.L.any_time], ["within", this.L.within], ["between", this.L.between]], when, function (value) {
      delete node.within;
      delete node.between;
      if (value === "within") node.within = "30d";
      if (value === "between") node.between = ["", ""];
      self.changed(true);
    }, { "data-qb": "when", style: "width:auto" }));
    if (when === "within") {
      var match = /^(\d+)\s*([mhd])$/.exec(String(node.within));
      var amount = input(match[1], function (v) {
        node.within = (parseInt(v, 10) || 0) + unit.value;
        self.changed(false);
      }, { type: "number", min: 1, style: "width:5.5rem", "data-qb": "within-amount" });
      var unit = select([["d", this.L.days], ["h", this.L.hours], ["m", this.L.minutes]], match[2], function (u) {
        node.within = (parseInt(amount.value, 10) || 0) + u;
        self.changed(false);
      }, { style: "width:auto", "data-qb": "within-unit" });
      box.appendChild(amount);
      box.appendChild(unit);
    } else if (when === "between") {
      [0, 1].forEach(function (i) {
        box.appendChild(input(node.between[i], function (v) {
          node.between[i] = v;
          self.changed(false);
        }, { type: "date", style: "width:auto", "data-qb": "between-" + i }));
      });
    }
    // channel
    box.appendChild(select([["", this.L.any_channel]].concat(this.catalogue.accounts), node.channel || "", function (value) {
      if (value) node.channel = value;
      else delete node.channel;
      self.changed(false);
    }, { "data-qb": "channel", style: "width:auto" }));
    // aggregate
    var agg = AGGREGATES.filter(function (a) { return a in node; })[0] || "exists";
    box.appendChild(select([["exists", this.L.happened]].concat(AGGREGATES.map(function (a) { return [a, self.L[a]]; })), agg, function (value) {
      AGGREGATES.forEach(function (a) { delete node[a]; });
      if (value === "count") node.count = { gte: 1 };
      if (value === "sum" || value === "avg") node[value] = { prop: self.eventInfo(node.event).props[0] || "amount", gte: 0 };
      if (value === "first" || value === "last") node[value] = { gte: "30d" };
      self.changed(true);
    }, { "data-qb": "aggregate", style: "width:auto" }));
    if (agg !== "exists") this.aggregateControls(node, agg, box);
    // where
    var whereBox = el("div", { class: "w-100 ps-3 border-start d-flex flex-column gap-1" });
    (node.where || []).forEach(function (cond, index) {
      whereBox.appendChild(self.whereRow(node, cond, index));
    });
    whereBox.appendChild(el("div", {}, [el("button", {
      type: "button",
      class: "btn btn-link btn-sm p-0",
      "data-qb": "add-where",
      text: "+ " + this.L.add_where,
      onclick: function () {
        if (!node.where) node.where = [];
        node.where.push({ prop: self.eventInfo(node.event).props[0] || "", op: "eq", value: "" });
        self.changed(true);
      },
    })]));
    box.appendChild(whereBox);
  };

  Builder.prototype.aggregateControls = function (node, agg, box) {
    var self = this;
    var spec = node[agg];
    if (agg === "sum" || agg === "avg") {
      var listId = "qb-props-" + ++this.uid;
      box.appendChild(el("datalist", { id: listId }, this.eventInfo(node.event).props.map(function (p) { return el("option", { value: p }); })));
      box.appendChild(input(spec.prop, function (v) {
        spec.prop = v.trim();
        self.changed(false);
      }, { list: listId, style: "width:7rem", placeholder: this.L.prop, "data-qb": "agg-prop" }));
    }
    var op = keysOf(spec).filter(function (k) { return k !== "prop"; })[0];
    var opSelect = select(COMPARATORS.map(function (o) { return [o, self.L.ops[o]]; }), op, function (value) {
      var v = spec[op];
      delete spec[op];
      spec[value] = v;
      op = value;
      self.changed(false);
    }, { "data-qb": "agg-op", style: "width:auto" });
    box.appendChild(opSelect);
    var numeric = agg !== "first" && agg !== "last";
    box.appendChild(input(spec[op], function (v) {
      spec[op] = numeric ? (v === "" ? v : Number(v)) : v;
      self.changed(false);
    }, numeric ? { type: "number", min: 0, step: "any", style: "width:6rem", "data-qb": "agg-value" }
               : { style: "width:9rem", placeholder: "30d / 2026-05-01", "data-qb": "agg-value" }));
  };

  Builder.prototype.whereRow = function (node, cond, index) {
    var self = this;
    var listId = "qb-wprops-" + ++this.uid;
    var info = { type: "text", custom: true };
    var row = el("div", { class: "d-flex align-items-center gap-2 flex-wrap", "data-qb": "where" }, [
      el("span", { class: "small text-muted", text: this.L.where }),
      el("datalist", { id: listId }, this.eventInfo(node.event).props.map(function (p) { return el("option", { value: p }); })),
      input(cond.prop, function (v) {
        cond.prop = v.trim();
        self.changed(false);
      }, { list: listId, style: "width:8rem", "data-qb": "where-prop" }),
      select(OPS_BY_TYPE.number.concat(["contains", "startswith"]).map(function (o) { return [o, self.L.ops[o]]; }), cond.op || "eq", function (value) {
        cond.op = value;
        cond.value = self.coerce(cond.value, value, info);
        self.changed(true);
      }, { "data-qb": "where-op", style: "width:auto" }),
    ]);
    this.valueEditor(cond, "value", cond.op || "eq", info, row);
    row.appendChild(el("button", {
      type: "button",
      class: "btn btn-sm btn-link text-danger",
      title: this.L.remove,
      onclick: function () {
        node.where.splice(index, 1);
        if (!node.where.length) delete node.where;
        self.changed(true);
      },
    }, [el("i", { class: "bi bi-x" })]));
    return row;
  };

  // --- identity and consent -----------------------------------------------------------------

  Builder.prototype.controls_identity = function (node, box) {
    var self = this;
    box.appendChild(select(this.catalogue.identities, node.identity, function (value) {
      node.identity = value;
      self.changed(false);
    }, { "data-qb": "identity", style: "width:auto" }));
    box.appendChild(select([["", this.L.any_scope]].concat(this.catalogue.accounts), node.scope || "", function (value) {
      if (value) node.scope = value;
      else delete node.scope;
      self.changed(false);
    }, { "data-qb": "scope", style: "width:auto" }));
  };

  Builder.prototype.controls_consent = function (node, box) {
    var self = this;
    box.appendChild(select(this.catalogue.consents, node.consent, function (value) {
      node.consent = value;
      self.changed(false);
    }, { "data-qb": "consent", style: "width:auto" }));
    box.appendChild(select(this.catalogue.consent_statuses, node.status || "granted", function (value) {
      if (value === "granted" && !("status" in node)) return;
      node.status = value;
      self.changed(false);
    }, { "data-qb": "status", style: "width:auto" }));
  };

  // --- errors from the live preview, shown on the conditions they name ------------------------

  function markErrors(builder, scope) {
    builder.errorPaths = Array.prototype.map.call(scope.querySelectorAll("[data-error-path]"), function (e) {
      return e.getAttribute("data-error-path");
    });
    applyMarks(builder);
  }

  function applyMarks(builder) {
    var paths = builder.errorPaths || [];
    builder.visual.querySelectorAll(".qb-leaf, .qb-group").forEach(function (node) {
      var path = node.getAttribute("data-path") || "";
      var hit = paths.some(function (p) {
        if (node.classList.contains("qb-group")) return p === path || p === joinPath(path, node.classList.contains("qb-all") ? "all" : "any");
        return path === "" ? !/\[/.test(p) : p === path || p.indexOf(path + ".") === 0;
      });
      node.classList.toggle("qb-invalid", hit);
    });
  }

  // Mount on a .qb root added after the page loaded (the journey builder's condition steps).
  window.qbMount = function (root) {
    if (!root.qbBuilder) root.qbBuilder = new Builder(root);
    return root.qbBuilder;
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".qb").forEach(function (root) {
      if (root.qbBuilder) return;
      var builder = new Builder(root);
      root.qbBuilder = builder;
      document.body.addEventListener("htmx:afterSwap", function (event) {
        if (event.target.id === root.getAttribute("data-preview")) markErrors(builder, event.target);
      });
    });
  });
})();
