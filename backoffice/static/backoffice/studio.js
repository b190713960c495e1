// The campaign studio: a guided form (one step at a time) with inline validation and a live preview.
// Without JavaScript the form is one long page that saves as usual. No inline script (the Content
// Security Policy forbids it); every hook is a data- attribute, every text comes from the page.
// One JSON endpoint (session + CSRF) answers both: the service's validation of the form and the
// basket priced by checkout's own matching and calculator.
(function () {
  "use strict";

  var form = document.getElementById("studio");
  if (!form) return;
  var labels = document.getElementById("preview-labels").dataset;
  var output = form.querySelector("[data-preview-output]");
  var steps = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
  var stepper = form.querySelector("[data-stepper]");
  var stepNav = form.querySelector("[data-step-nav]");
  var current = 0;
  var touched = {};
  var lastErrors = {};
  var pending = null;
  var timer = null;
  var sequence = 0;

  // -- Steps -------------------------------------------------------------------------------------

  function stepOf(name) {
    var holder = form.querySelector('[data-field="' + name + '"]');
    var step = holder ? holder.closest("[data-step]") : null;
    return step ? steps.indexOf(step) : -1;
  }

  function show(index) {
    current = Math.max(0, Math.min(steps.length - 1, index));
    steps.forEach(function (step, i) {
      step.hidden = i !== current;
    });
    stepper.querySelectorAll("[data-step-target]").forEach(function (button, i) {
      if (i === current) button.setAttribute("aria-current", "step");
      else button.removeAttribute("aria-current");
      button.classList.toggle("step-done", i < current);
    });
    stepNav.querySelector("[data-step-prev]").hidden = current === 0;
    stepNav.querySelector("[data-step-next]").hidden = current === steps.length - 1;
    if (steps[current].dataset.step === "review") buildReview();
  }

  function firstStepWithErrors(errors) {
    var found = -1;
    Object.keys(errors).forEach(function (name) {
      var index = stepOf(name);
      if (index >= 0 && (found < 0 || index < found)) found = index;
    });
    return found;
  }

  // -- Errors ------------------------------------------------------------------------------------

  function setErrors(holder, messages) {
    var control = holder.querySelector("input, select, textarea");
    var list = holder.querySelector("ul.errors");
    if (!messages || !messages.length) {
      if (list) list.remove();
      if (control) control.removeAttribute("aria-invalid");
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.className = "errors";
      list.id = (control ? control.id : holder.dataset.field) + "_errors";
      holder.appendChild(list);
    }
    list.textContent = "";
    messages.forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      list.appendChild(item);
    });
    if (control) {
      control.setAttribute("aria-invalid", "true");
      var described = (control.getAttribute("aria-describedby") || "").split(" ");
      if (described.indexOf(list.id) < 0) {
        described.push(list.id);
        control.setAttribute("aria-describedby", described.join(" ").trim());
      }
    }
  }

  // Show the errors of what the merchant has touched, and of every step before the current one.
  function showErrors(errors, all) {
    lastErrors = errors;
    form.querySelectorAll("[data-field]").forEach(function (holder) {
      var name = holder.dataset.field;
      if (name.indexOf("preview-") === 0) return;
      var visible = all || touched[name] || stepOf(name) < current;
      setErrors(holder, visible ? errors[name] : null);
    });
  }

  // -- The JSON endpoint -------------------------------------------------------------------------

  function ask() {
    if (pending) pending.abort();
    pending = new AbortController();
    var number = ++sequence;
    var started = performance.now();
    var body = new FormData(form);
    return fetch(form.dataset.previewUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", Accept: "application/json" },
      signal: pending.signal,
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        if (number !== sequence) return answer; // a newer change is on its way
        answer.ms = Math.round(performance.now() - started);
        showErrors(answer.errors, false);
        renderPreview(answer);
        return answer;
      })
      .catch(function (error) {
        if (error.name === "AbortError") return null;
        output.textContent = "";
        var note = document.createElement("p");
        note.className = "alert alert-bad";
        note.textContent = labels.error;
        output.appendChild(note);
        return null;
      });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, 120);
  }

  // -- The preview -------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function renderPreview(answer) {
    output.textContent = "";
    output.dataset.ms = answer.ms;
    var previewErrors = answer.preview_errors || {};
    form.querySelectorAll('[data-field^="preview-"]').forEach(function (holder) {
      setErrors(holder, previewErrors[holder.dataset.field]);
    });
    if (previewErrors.__all__) {
      output.appendChild(el("p", "alert alert-warn", previewErrors.__all__.join(" ")));
    }
    var preview = answer.preview;
    if (!preview) return;
    var meta = el("p", "preview-meta muted small");
    meta.textContent =
      labels.financed + " " + preview.display.financed_amount + " · " + labels.pricedOn + " " +
      preview.display.priced_on + " · " + labels.updated + " " + answer.ms + " ms";
    output.appendChild(meta);
    if (preview.reason) output.appendChild(el("p", "alert alert-warn", preview.reason));

    var table = el("table", "table stack preview-table");
    table.appendChild(el("caption", "visually-hidden", labels.caption));
    var head = el("thead");
    var headRow = el("tr");
    [labels.term, labels.pays, labels.fee, labels.cost].forEach(function (text, i) {
      var th = el("th", i > 0 ? "num" : "", text);
      th.scope = "col";
      headRow.appendChild(th);
    });
    head.appendChild(headRow);
    table.appendChild(head);
    var body = el("tbody");
    preview.terms.forEach(function (term) {
      var row = el("tr", term.applies ? "row-applies" : "row-muted");
      row.dataset.term = term.term;
      var name = el("th", "", term.display.term);
      name.scope = "row";
      if (term.interest_free) {
        name.appendChild(document.createTextNode(" "));
        name.appendChild(el("span", "badge badge-good", labels.free));
      }
      if (term.reason) name.appendChild(el("span", "preview-reason", term.reason));
      else if (!term.applies) name.appendChild(el("span", "preview-reason", labels.noOffer));
      if (term.chosen_instead) name.appendChild(el("span", "preview-reason preview-instead", term.chosen_instead));
      row.appendChild(name);
      var pays = el("td", "num");
      pays.appendChild(el("span", "preview-first", term.display.first));
      if (term.term > 1 && term.display.then !== term.display.first) {
        pays.appendChild(el("span", "muted small preview-then", labels.firstThen + " " + term.display.then));
      }
      pays.dataset.label = labels.pays;
      row.appendChild(pays);
      var fee = el("td", "num");
      fee.appendChild(el("span", "preview-fee", term.display.consumer_fee));
      fee.appendChild(el("span", "muted small preview-apr", labels.apr + " " + term.display.apr));
      fee.dataset.label = labels.fee;
      row.appendChild(fee);
      var cost = el("td", "num", term.display.merchant_subsidy);
      cost.dataset.label = labels.cost;
      if (term.plans_covered !== null && term.plans_covered !== undefined) {
        cost.appendChild(el("span", "muted small preview-covers", labels.covers + " " + term.plans_covered.toLocaleString() + " " + labels.plans));
      }
      row.appendChild(cost);
      body.appendChild(row);

      var scheduleRow = el("tr", "schedule-row");
      var cell = el("td");
      cell.colSpan = 4;
      var details = el("details");
      details.appendChild(el("summary", "small", labels.schedule + " · " + term.display.term));
      var list = el("ol", "schedule-list small");
      term.display.schedule.forEach(function (item) {
        list.appendChild(el("li", "", item.due_date + " — " + item.amount));
      });
      details.appendChild(list);
      cell.appendChild(details);
      scheduleRow.appendChild(cell);
      body.appendChild(scheduleRow);
    });
    table.appendChild(body);
    var wrap = el("div", "table-wrap");
    wrap.appendChild(table);
    output.appendChild(wrap);
    if (preview.terms_out_of_limits.length) {
      output.appendChild(el("p", "muted small", labels.outOfLimits + " " + preview.terms_out_of_limits.join(", ")));
    }
  }

  // -- Review ------------------------------------------------------------------------------------

  function valueOf(holder) {
    var checked = holder.querySelectorAll("input[type=checkbox]:checked, input[type=radio]:checked");
    if (holder.querySelector("input[type=checkbox], input[type=radio]")) {
      if (holder.querySelectorAll("input[type=checkbox]").length === 1 && !holder.querySelector("fieldset")) {
        return checked.length ? labels.yes : labels.no;
      }
      return Array.prototype.map.call(checked, function (input) {
        return input.closest("label") ? input.closest("label").textContent.trim() : input.value;
      }).join(", ");
    }
    var control = holder.querySelector("select, input, textarea");
    if (!control) return "";
    if (control.tagName === "SELECT") return control.value ? control.options[control.selectedIndex].text : "";
    if (control.type === "datetime-local") return control.value.replace("T", " ");
    return control.value.trim();
  }

  function titleOf(holder) {
    var label = holder.querySelector("legend, label");
    if (!label) return holder.dataset.field;
    var copy = label.cloneNode(true);
    copy.querySelectorAll(".optional").forEach(function (node) { node.remove(); });
    return copy.textContent.trim();
  }

  function buildReview() {
    var list = form.querySelector("[data-review]");
    list.textContent = "";
    form.querySelector("[data-review-empty]").hidden = true;
    steps.forEach(function (step) {
      if (step.dataset.step === "review") return;
      if (step.dataset.step === "offers") {
        var tiers = [];
        step.querySelectorAll("[data-offer-row]").forEach(function (row) {
          var cells = row.querySelectorAll("[data-field]");
          var term = valueOf(cells[0]);
          if (!term) return;
          tiers.push(
            labels.tier
              .replace("{term}", term)
              .replace("{share}", valueOf(cells[1]) || "?")
              .replace("{min}", valueOf(cells[2]) || "0")
          );
        });
        list.appendChild(el("dt", "", step.querySelector("h2").textContent));
        list.appendChild(el("dd", "", tiers.join("; ") || "—"));
        return;
      }
      step.querySelectorAll("[data-field]").forEach(function (holder) {
        var value = valueOf(holder);
        if (!value) return;
        list.appendChild(el("dt", "", titleOf(holder)));
        list.appendChild(el("dd", "", value));
      });
    });
  }

  // -- Offer rows --------------------------------------------------------------------------------

  var rows = Array.prototype.slice.call(form.querySelectorAll("[data-offer-row]"));
  var addOffer = form.querySelector("[data-add-offer]");
  function rowFilled(row) {
    return Array.prototype.some.call(row.querySelectorAll("input, select"), function (control) {
      return control.value !== "";
    });
  }
  if (!addOffer) {
    // A campaign whose offers cannot change any more: only its rows are shown.
    rows.forEach(function (row, i) {
      row.hidden = i > 0 && !rowFilled(row);
    });
  } else {
    var shown = 0;
    rows.forEach(function (row, i) {
      var visible = i === 0 || rowFilled(row) || row.querySelector(".errors");
      row.hidden = !visible;
      if (visible) shown = i;
    });
    rows.forEach(function (row, i) {
      if (i < shown) row.hidden = false;
    });
    addOffer.hidden = rows.every(function (row) { return !row.hidden; });
    addOffer.addEventListener("click", function () {
      var next = rows.find(function (row) { return row.hidden; });
      if (next) {
        next.hidden = false;
        next.querySelector("select").focus();
      }
      addOffer.hidden = rows.every(function (row) { return !row.hidden; });
    });
  }

  // -- Wiring ------------------------------------------------------------------------------------

  stepper.hidden = false;
  stepNav.hidden = false;
  form.classList.add("studio-guided");
  stepper.querySelectorAll("[data-step-target]").forEach(function (button, i) {
    button.addEventListener("click", function () { show(i); });
  });
  stepNav.querySelector("[data-step-prev]").addEventListener("click", function () {
    show(current - 1);
    steps[current].querySelector("h2").focus();
  });
  stepNav.querySelector("[data-step-next]").addEventListener("click", function () {
    window.clearTimeout(timer);
    ask().then(function (answer) {
      if (!answer) return;
      var names = Object.keys(answer.errors).filter(function (name) { return stepOf(name) === current; });
      if (names.length) {
        names.forEach(function (name) { touched[name] = true; });
        showErrors(answer.errors, false);
        var first = form.querySelector('[data-field="' + names[0] + '"] input, [data-field="' + names[0] + '"] select, [data-field="' + names[0] + '"] textarea');
        if (first) first.focus();
        return;
      }
      show(current + 1);
      var heading = steps[current].querySelector("h2");
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    });
  });
  form.addEventListener("input", function (event) {
    var holder = event.target.closest("[data-field]");
    if (holder) touched[holder.dataset.field] = true;
    schedule();
  });
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () {
    window.clearTimeout(timer);
    if (pending) pending.abort();
  });

  // A page the server sent back with errors opens on the first step that has them.
  var serverErrors = {};
  form.querySelectorAll("[data-field] .errors").forEach(function (list) {
    serverErrors[list.closest("[data-field]").dataset.field] = true;
  });
  var start = firstStepWithErrors(serverErrors);
  Object.keys(serverErrors).forEach(function (name) { touched[name] = true; });
  show(start >= 0 ? start : 0);
  ask();
})();
