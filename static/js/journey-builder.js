/* Quanyu journey builder: the steps of an SOP journey as an ordered list of cards (wait /
 * condition / action), serialised to the form's hidden `steps` field as JSON on every change
 * and on submit; and the single action editor of a real-time trigger (hidden `action` field).
 *
 * Markup: <div data-jb="steps" data-target="ID of the hidden input" data-catalogue="URL">
 * or <div data-jb="action" data-target="…">, with json_script blocks #jb-data (choices and
 * labels), #jb-steps or #jb-action (initial value) and #jb-errors (server errors by step and
 * field: {"0": {"content": "…"}} — or, for an action, {"content": "…"}).
 * Condition steps mount the audience builder (audience-builder.js, window.qbMount).
 */
(function () {
  "use strict";

  function readJson(id, fallback) {
    var node = document.getElementById(id);
    if (!node) return fallback;
    try {
      return JSON.parse(node.textContent);
    } catch (err) {
      return fallback;
    }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var uid = 0;
  function nextId(prefix) {
    uid += 1;
    return prefix + "-" + uid;
  }

  function Editor(root, data) {
    this.root = root;
    this.data = data;
    this.L = data.labels;
    this.hidden = document.getElementById(root.getAttribute("data-target"));
    this.errors = readJson("jb-errors", {}) || {};
  }

  // --- small controls, each writing straight into `obj[key]` ----------------------------------

  Editor.prototype.field = function (label, control, errorKey, errors, cls) {
    var id = control.id || nextId("jb");
    control.id = id;
    var wrap = el("div", { class: cls || "col-md-4", "data-field": errorKey || null }, [
      el("label", { class: "form-label small mb-1", for: id, text: label }),
      control,
    ]);
    var message = errors && errorKey ? errors[errorKey] : null;
    if (message) {
      control.classList.add("is-invalid");
      var feedback = el("div", { class: "invalid-feedback d-block", "data-testid": "step-error", text: message });
      wrap.appendChild(feedback);
      var clear = function () { // the message goes once the field is changed
        control.classList.remove("is-invalid");
        feedback.remove();
        if (errors) delete errors[errorKey];
      };
      control.addEventListener("input", clear, { once: true });
      control.addEventListener("change", clear, { once: true });
    }
    return wrap;
  };

  Editor.prototype.input = function (obj, key, attrs, number) {
    var self = this;
    var node = el("input", Object.assign({ class: "form-control form-control-sm" }, attrs || {}));
    var value = obj[key];
    node.value = value === undefined || value === null ? "" : String(value);
    node.addEventListener("input", function () {
      if (number) obj[key] = node.value === "" ? 0 : Number(node.value);
      else obj[key] = node.value;
      self.save();
    });
    return node;
  };

  Editor.prototype.textarea = function (obj, key, attrs) {
    var self = this;
    var node = el("textarea", Object.assign({ class: "form-control form-control-sm", rows: 3 }, attrs || {}));
    node.value = obj[key] || "";
    node.addEventListener("input", function () {
      obj[key] = node.value;
      self.save();
    });
    return node;
  };

  Editor.prototype.select = function (obj, key, options, attrs, onchange) {
    var self = this;
    var node = el("select", Object.assign({ class: "form-select form-select-sm" }, attrs || {}));
    var current = obj[key] === undefined || obj[key] === null ? "" : String(obj[key]);
    var found = false;
    options.forEach(function (opt) {
      var o = el("option", { value: String(opt[0]), text: opt[1] });
      if (String(opt[0]) === current) {
        o.selected = true;
        found = true;
      }
      node.appendChild(o);
    });
    if (!found && current !== "") {
      node.insertBefore(el("option", { value: current, text: current, selected: true }), node.firstChild);
    }
    node.addEventListener("change", function () {
      var value = node.value;
      obj[key] = /^\d+$/.test(value) && key !== "time" ? Number(value) : value;
      if (onchange) onchange(value);
      self.save();
    });
    return node;
  };

  // ordered checkboxes: the checked ones first, in their order; arrows move them
  Editor.prototype.orderedChecks = function (obj, key, choices, testid) {
    var self = this;
    var chosen = Array.isArray(obj[key]) ? obj[key].map(Number) : [];
    var byId = {};
    choices.forEach(function (c) { byId[c[0]] = c; });
    var ordered = chosen.filter(function (id) { return byId[id]; }).map(function (id) { return byId[id]; });
    choices.forEach(function (c) { if (chosen.indexOf(c[0]) < 0) ordered.push(c); });
    var list = el("ul", { class: "list-group list-group-sm", "data-testid": testid });
    function sync() {
      obj[key] = Array.prototype.filter.call(list.querySelectorAll("input"), function (i) { return i.checked; })
        .map(function (i) { return Number(i.value); });
      self.save();
    }
    ordered.forEach(function (c) {
      var id = nextId("jb-ch");
      var box = el("input", { type: "checkbox", class: "form-check-input m-0", value: c[0], id: id, onchange: sync });
      box.checked = chosen.indexOf(c[0]) >= 0;
      var item = el("li", { class: "list-group-item d-flex align-items-center gap-2 py-1" }, [
        box,
        el("label", { class: "form-check-label flex-grow-1 small", for: id }, [c[1] + " ", el("span", { class: "text-muted", text: c[2] || "" })]),
        el("button", { type: "button", class: "btn btn-sm btn-link p-0", title: self.L.up, "aria-label": self.L.up, onclick: function () {
          if (item.previousElementSibling) list.insertBefore(item, item.previousElementSibling);
          sync();
        } }, [el("i", { class: "bi bi-arrow-up" })]),
        el("button", { type: "button", class: "btn btn-sm btn-link p-0", title: self.L.down, "aria-label": self.L.down, onclick: function () {
          if (item.nextElementSibling) list.insertBefore(item.nextElementSibling, item);
          sync();
        } }, [el("i", { class: "bi bi-arrow-down" })]),
      ]);
      list.appendChild(item);
    });
    if (!choices.length) list.appendChild(el("li", { class: "list-group-item small text-muted", text: self.L.none }));
    return list;
  };

  Editor.prototype.multiSelect = function (obj, key, choices, attrs) {
    var self = this;
    var chosen = Array.isArray(obj[key]) ? obj[key].map(Number) : [];
    var node = el("select", Object.assign({ class: "form-select form-select-sm", multiple: true, size: Math.min(6, Math.max(3, choices.length)) }, attrs || {}));
    choices.forEach(function (c) {
      node.appendChild(el("option", { value: c[0], text: c[1], selected: chosen.indexOf(c[0]) >= 0 }));
    });
    node.addEventListener("change", function () {
      obj[key] = Array.prototype.filter.call(node.options, function (o) { return o.selected; }).map(function (o) { return Number(o.value); });
      self.save();
    });
    return node;
  };

  // --- an action's fields -----------------------------------------------------------------------

  Editor.prototype.actionFields = function (config, errors, allowed, rerender) {
    var self = this;
    var L = this.L;
    var row = el("div", { class: "row g-2" });
    var actions = this.data.actions.filter(function (a) { return allowed.indexOf(a[0]) >= 0; });
    var changeAction = function (value) { // a new action starts from its own defaults
      Object.keys(config).forEach(function (key) { if (key !== "action") delete config[key]; });
      if (value === "staff_task") config.due_hours = 24;
      rerender();
    };
    row.appendChild(this.field(L.action, this.select(config, "action", actions, { "data-jb": "action" }, changeAction), "action", errors));
    var contents = [["", L.choose]].concat(this.data.contents);
    var action = config.action;
    if (action === "send" || action === "group_message") {
      row.appendChild(this.field(L.content, this.select(config, "content", contents, { "data-jb": "content" }), "content", errors, "col-md-8"));
    }
    if (action === "send") {
      var accounts = this.data.accounts.map(function (a) { return [a[0], a[1], a[2]]; });
      var wrap = this.field(L.channels, this.orderedChecks(config, "channels", accounts, "jb-channels"), "channels", errors, "col-lg-8");
      wrap.appendChild(el("div", { class: "form-text", text: L.channels_help }));
      row.appendChild(wrap);
    } else if (action === "tag_add" || action === "tag_remove") {
      var wrapTags = this.field(L.tags, this.multiSelect(config, "tags", this.data.tags, { "data-jb": "tags" }), "tags", errors, "col-md-8");
      wrapTags.appendChild(el("div", { class: "form-text", text: L.multi_help }));
      row.appendChild(wrapTags);
    } else if (action === "points") {
      row.appendChild(this.field(L.points, this.input(config, "points", { type: "number", min: 1, max: 100000, "data-jb": "points" }, true), "points", errors, "col-md-3"));
      row.appendChild(this.field(L.reason, this.input(config, "reason", { maxlength: 100, "data-jb": "reason" }), "reason", errors, "col-md-5"));
    } else if (action === "staff_task") {
      row.appendChild(this.field(L.title, this.input(config, "title", { maxlength: 200, "data-jb": "title" }), "title", errors, "col-md-5"));
      row.appendChild(this.field(L.due_hours, this.input(config, "due_hours", { type: "number", min: 1, max: 720, "data-jb": "due_hours" }, true), "due_hours", errors, "col-md-3"));
      row.appendChild(this.field(L.body, this.textarea(config, "body", { "data-jb": "body", placeholder: L.body_help }), "body", errors, "col-12"));
    } else if (action === "webhook") {
      row.appendChild(this.field(L.url, this.input(config, "url", { type: "url", placeholder: "https://", "data-jb": "url" }), "url", errors, "col-md-8"));
    }
    return row;
  };

  // --- a single action (real-time triggers) -----------------------------------------------------

  Editor.prototype.mountAction = function () {
    var self = this;
    this.config = readJson("jb-action", {}) || {};
    if (!this.config.action) this.config.action = "send";
    var render = function () {
      self.root.innerHTML = "";
      self.root.appendChild(self.actionFields(self.config, self.errors, self.data.customer_actions, function () {
        self.errors = {};
        render();
      }));
      self.save();
    };
    render();
  };

  // --- steps ------------------------------------------------------------------------------------

  Editor.prototype.mountSteps = function () {
    var self = this;
    this.steps = readJson("jb-steps", []) || [];
    this.kindSelect = document.querySelector("[name=kind]");
    this.list = el("div", { class: "d-flex flex-column gap-2", "data-testid": "step-list" });
    this.root.innerHTML = "";
    this.root.appendChild(this.list);
    var add = el("div", { class: "d-flex gap-2 mt-3 flex-wrap", "data-testid": "step-add" });
    [["wait", "bi-hourglass-split", L_("add_wait")], ["condition", "bi-signpost-split", L_("add_condition")], ["action", "bi-lightning", L_("add_action")]].forEach(function (spec) {
      add.appendChild(el("button", { type: "button", class: "btn btn-sm btn-outline-primary", "data-add": spec[0], onclick: function () {
        self.addStep(spec[0]);
      } }, [el("i", { class: "bi " + spec[1] + " me-1" }), spec[2]]));
    });
    function L_(k) { return self.L[k]; }
    this.root.appendChild(add);
    if (this.kindSelect) this.kindSelect.addEventListener("change", function () { self.render(); });
    var form = this.root.closest("form");
    if (form) form.addEventListener("submit", function () { self.save(); });
    this.render();
  };

  Editor.prototype.journeyKind = function () {
    return this.kindSelect ? this.kindSelect.value : this.data.kind;
  };

  Editor.prototype.addStep = function (kind) {
    this.syncConditions();
    var step = { kind: kind, name: "", config: {} };
    if (kind === "wait") step.config = { mode: "duration", days: 1, hours: 0, minutes: 0 };
    if (kind === "condition") step.config = { definition: { all: [] }, no: "end" };
    if (kind === "action") step.config = { action: this.journeyKind() === "group" ? "group_message" : "send" };
    this.steps.push(step);
    this.errors = {};
    this.render();
    var cards = this.list.querySelectorAll("[data-testid=step-card]");
    if (cards.length) cards[cards.length - 1].scrollIntoView({ block: "nearest" });
  };

  Editor.prototype.move = function (index, delta) {
    var target = index + delta;
    if (target < 0 || target >= this.steps.length) return;
    this.syncConditions();
    var step = this.steps.splice(index, 1)[0];
    this.steps.splice(target, 0, step);
    this.errors = {};
    this.render();
  };

  Editor.prototype.remove = function (index) {
    this.syncConditions();
    this.steps.splice(index, 1);
    this.errors = {};
    this.render();
  };

  // the condition textareas (edited by the audience builder) back into the steps
  Editor.prototype.syncConditions = function () {
    var self = this;
    this.list.querySelectorAll("[data-condition-index]").forEach(function (area) {
      var step = self.steps[Number(area.getAttribute("data-condition-index"))];
      if (!step) return;
      var text = area.value.trim();
      try {
        step.config.definition = text ? JSON.parse(text) : { all: [] };
      } catch (err) {
        step.config.definition = text; // the server says what is wrong with it
      }
    });
  };

  Editor.prototype.save = function () {
    if (this.steps) {
      this.syncConditions();
      this.hidden.value = JSON.stringify(this.steps);
    } else if (this.config) {
      this.hidden.value = JSON.stringify(this.config);
    }
  };

  Editor.prototype.render = function () {
    var self = this;
    this.list.innerHTML = "";
    if (!this.steps.length) {
      this.list.appendChild(el("div", { class: "text-muted small border rounded p-3 text-center", "data-testid": "steps-empty", text: this.L.no_steps }));
    }
    this.steps.forEach(function (step, index) {
      self.list.appendChild(self.card(step, index));
    });
    this.save();
    if (window.qbMount) {
      this.list.querySelectorAll(".qb").forEach(function (root) { window.qbMount(root); });
    }
  };

  Editor.prototype.card = function (step, index) {
    var self = this;
    var L = this.L;
    var errors = this.errors[String(index)] || {};
    if (!step.config || typeof step.config !== "object") step.config = {};
    var kinds = {};
    this.data.step_kinds.forEach(function (k) { kinds[k[0]] = k[1]; });
    var icon = { wait: "bi-hourglass-split", condition: "bi-signpost-split", action: "bi-lightning" }[step.kind] || "bi-question";
    var header = el("div", { class: "card-header d-flex align-items-center gap-2 py-2" }, [
      el("span", { class: "badge rounded-pill text-bg-primary", text: String(index + 1) }),
      el("span", { class: "small fw-semibold text-nowrap" }, [el("i", { class: "bi " + icon + " me-1" }), kinds[step.kind] || String(step.kind)]),
      this.input(step, "name", { placeholder: L.step_name, maxlength: 100, class: "form-control form-control-sm", style: "max-width: 22rem", "data-jb": "name", "aria-label": L.step_name }),
      el("div", { class: "ms-auto btn-group btn-group-sm" }, [
        el("button", { type: "button", class: "btn btn-outline-secondary", title: L.up, "aria-label": L.up, disabled: index === 0, "data-jb": "up", onclick: function () { self.move(index, -1); } }, [el("i", { class: "bi bi-arrow-up" })]),
        el("button", { type: "button", class: "btn btn-outline-secondary", title: L.down, "aria-label": L.down, disabled: index === this.steps.length - 1, "data-jb": "down", onclick: function () { self.move(index, 1); } }, [el("i", { class: "bi bi-arrow-down" })]),
        el("button", { type: "button", class: "btn btn-outline-danger", title: L.remove, "aria-label": L.remove, "data-jb": "remove", onclick: function () { self.remove(index); } }, [el("i", { class: "bi bi-trash" })]),
      ]),
    ]);
    var body = el("div", { class: "card-body py-2" });
    var general = ["", "kind", "config", "mode"].map(function (k) { return errors[k]; }).filter(Boolean);
    general.forEach(function (message) {
      body.appendChild(el("div", { class: "alert alert-danger py-1 px-2 small mb-2", "data-testid": "step-error", text: message }));
    });
    var rerender = function () {
      self.syncConditions();
      self.errors = {};
      self.render();
    };
    if (step.kind === "wait") body.appendChild(this.waitFields(step.config, errors, rerender));
    else if (step.kind === "condition") body.appendChild(this.conditionFields(step.config, errors, index));
    else if (step.kind === "action") {
      var allowed = this.journeyKind() === "group" ? this.data.group_actions : this.data.customer_actions;
      body.appendChild(this.actionFields(step.config, errors, allowed, rerender));
    }
    var invalid = Object.keys(errors).length > 0;
    return el("div", { class: "card step-card step-" + step.kind + (invalid ? " border-danger" : ""), "data-testid": "step-card", "data-index": index, "data-kind": step.kind }, [header, body]);
  };

  Editor.prototype.waitFields = function (config, errors, rerender) {
    var self = this;
    var L = this.L;
    config.mode = config.mode || "duration";
    var row = el("div", { class: "row g-2 align-items-end" });
    row.appendChild(this.field(L.wait_mode, this.select(config, "mode", L.wait_modes, { "data-jb": "mode" }, function (mode) {
      if (mode === "day_at") Object.assign(config, { day: config.day || 1, time: config.time || "10:00" });
      if (mode === "window") Object.assign(config, { weekdays: config.weekdays || [0, 1, 2, 3, 4], start: config.start || "09:00", end: config.end || "21:00" });
      rerender();
    }), "mode", errors, "col-md-3"));
    if (config.mode === "duration") {
      [["days", L.days, 365], ["hours", L.hours, 23 * 365], ["minutes", L.minutes, 59 * 365 * 24]].forEach(function (spec) {
        row.appendChild(self.field(spec[1], self.input(config, spec[0], { type: "number", min: 0, max: spec[2], "data-jb": spec[0] }, true), spec[0], errors, "col-md-2"));
      });
    } else if (config.mode === "day_at") {
      row.appendChild(this.field(L.day, this.input(config, "day", { type: "number", min: 0, max: 365, "data-jb": "day" }, true), "day", errors, "col-md-2"));
      row.appendChild(this.field(L.time, this.input(config, "time", { type: "time", "data-jb": "time" }), "time", errors, "col-md-2"));
      row.appendChild(el("div", { class: "col-md-5 small text-muted pb-1", text: L.day_help }));
    } else {
      var days = el("div", { class: "d-flex flex-wrap gap-2", "data-jb": "weekdays" });
      config.weekdays = Array.isArray(config.weekdays) ? config.weekdays : [];
      L.weekdays.forEach(function (name, day) {
        var id = nextId("jb-wd");
        var box = el("input", { type: "checkbox", class: "form-check-input", id: id, value: day });
        box.checked = config.weekdays.indexOf(day) >= 0;
        box.addEventListener("change", function () {
          config.weekdays = Array.prototype.filter.call(days.querySelectorAll("input"), function (i) { return i.checked; }).map(function (i) { return Number(i.value); });
          self.save();
        });
        days.appendChild(el("div", { class: "form-check form-check-inline m-0" }, [box, el("label", { class: "form-check-label small", for: id, text: name })]));
      });
      var wrap = el("div", { class: "col-md-5", "data-field": "weekdays" }, [el("div", { class: "form-label small mb-1", text: L.weekdays_label }), days]);
      if (errors.weekdays) wrap.appendChild(el("div", { class: "invalid-feedback d-block", "data-testid": "step-error", text: errors.weekdays }));
      row.appendChild(wrap);
      row.appendChild(this.field(L.start, this.input(config, "start", { type: "time", "data-jb": "start" }), "start", errors, "col-md-2"));
      row.appendChild(this.field(L.end, this.input(config, "end", { type: "time", "data-jb": "end" }), "end", errors, "col-md-2"));
    }
    return row;
  };

  Editor.prototype.conditionFields = function (config, errors, index) {
    var L = this.L;
    var box = el("div", {});
    var definition = config.definition === undefined || config.definition === null ? { all: [] } : config.definition;
    var text = typeof definition === "string" ? definition : JSON.stringify(definition, null, 2);
    var area = el("textarea", { class: "form-control form-control-sm font-monospace" + (errors.definition ? " is-invalid" : ""), rows: 6, "data-condition-index": index, "data-jb": "definition", "aria-label": L.condition });
    area.value = text;
    var self = this;
    area.addEventListener("input", function () { self.save(); });
    area.addEventListener("qb-change", function () { self.save(); });
    var qb = el("div", { class: "qb", "data-catalogue": this.root.getAttribute("data-catalogue") }, [
      el("ul", { class: "nav nav-tabs nav-sm mb-2" }, [
        el("li", { class: "nav-item" }, [el("button", { type: "button", class: "nav-link active py-1", "data-qb-tab": "builder", text: L.visual })]),
        el("li", { class: "nav-item" }, [el("button", { type: "button", class: "nav-link py-1", "data-qb-tab": "json", text: "JSON" })]),
      ]),
      el("div", { class: "qb-visual" }, [el("div", { class: "small text-muted", text: L.loading })]),
      el("div", { class: "qb-json d-none" }, [area, el("div", { class: "qb-json-error small text-danger mt-1" })]),
    ]);
    if (!window.qbMount) { // no visual builder on this page: the JSON is edited directly
      qb.querySelector(".qb-visual").classList.add("d-none");
      qb.querySelector(".qb-json").classList.remove("d-none");
    }
    box.appendChild(el("div", { class: "form-label small mb-1", text: L.condition }));
    box.appendChild(qb);
    if (errors.definition) box.appendChild(el("div", { class: "invalid-feedback d-block", "data-testid": "step-error", text: errors.definition }));
    var options = [["end", L.no_end]];
    for (var i = index + 1; i < this.steps.length; i++) {
      options.push([i, L.no_goto.replace("%s", String(i + 1))]);
    }
    var row = el("div", { class: "row g-2 mt-1" });
    row.appendChild(this.field(L.no_branch, this.select(config, "no", options, { "data-jb": "no" }), "no", errors, "col-md-5"));
    box.appendChild(row);
    return box;
  };

  // --- showing the trigger fields of the chosen trigger kind ------------------------------------

  function triggerFields() {
    var kind = document.querySelector("[name=trigger_kind]");
    if (!kind) return;
    var journeyKind = document.querySelector("[name=kind]");
    function update() {
      document.querySelectorAll("[data-trigger]").forEach(function (node) {
        node.classList.toggle("d-none", node.getAttribute("data-trigger").split(" ").indexOf(kind.value) < 0);
      });
      var group = journeyKind && journeyKind.value === "group";
      document.querySelectorAll("[data-customer-only]").forEach(function (node) {
        node.classList.toggle("d-none", group);
      });
    }
    kind.addEventListener("change", update);
    if (journeyKind) {
      journeyKind.addEventListener("change", function () {
        if (journeyKind.value === "group") kind.value = "group_chat";
        else if (kind.value === "group_chat") kind.value = "followed";
        update();
      });
    }
    var reentry = document.querySelector("[name=reentry]");
    var cooldown = document.querySelector("[data-cooldown]");
    if (reentry && cooldown) {
      var toggle = function () { cooldown.classList.toggle("d-none", reentry.value !== "cooldown"); };
      reentry.addEventListener("change", toggle);
      toggle();
    }
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var data = readJson("jb-data", null);
    triggerFields();
    if (!data) return;
    document.querySelectorAll("[data-jb-editor]").forEach(function (root) {
      var editor = new Editor(root, data);
      root.jbEditor = editor;
      if (root.getAttribute("data-jb-editor") === "action") editor.mountAction();
      else editor.mountSteps();
    });
  });
})();
