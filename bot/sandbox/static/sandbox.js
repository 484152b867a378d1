// Baton sandbox page: shows the emulated workspace for one person and turns their clicks into
// requests to the sandbox server, which signs them and sends them to Baton as Slack would.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const page = {
    user: localStorage.getItem("baton.sandbox.user"),
    pane: { kind: "dm" },
    data: null,
    version: -1,
    loadedAt: 0,
    modalKey: null,
    peopleKey: "",
    seen: {}, // user -> pane key -> newest ts they have seen
  };

  const EMOJI = {
    tada: "🎉", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", no_entry_sign: "🚫", warning: "⚠️",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", inbox_tray: "📥", rocket: "🚀", white_circle: "⚪",
    bell: "🔔", wave: "👋", memo: "📝", calendar: "📅", alarm_clock: "⏰", eyes: "👀", thumbsup: "👍",
    "+1": "👍", point_right: "👉", moneybag: "💰", receipt: "🧾", sparkles: "✨", lock: "🔒", key: "🔑",
    information_source: "ℹ️", question: "❓", exclamation: "❗", large_green_circle: "🟢", red_circle: "🔴",
    rotating_light: "🚨", arrow_right: "➡️", card_index_dividers: "🗂️", leftwards_arrow_with_hook: "↩️",
    palm_tree: "🌴", pencil2: "✏️", speech_balloon: "💬", turtle: "🐢", world_map: "🗺️", zzz: "💤",
  };

  // ---------------------------------------------------------------- talking to the sandbox server

  // The server answers its JSON API only with the secret it put in this page (see server.py).
  const SECRET = document.querySelector('meta[name="sandbox-secret"]').content;

  async function api(name, body) {
    const response = await fetch(`/sandbox/api/${name}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Sandbox-Secret": SECRET },
      body: JSON.stringify({ user: page.user, ...body }),
    });
    let answer = {};
    try { answer = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok || answer.ok === false) {
      toast(answer.error || `Baton answered HTTP ${answer.status || response.status}`);
    }
    return answer;
  }

  async function load() {
    const response = await fetch("/sandbox/api/state", { cache: "no-store", headers: { "X-Sandbox-Secret": SECRET } });
    if (!response.ok) throw new Error(`state: HTTP ${response.status}`);
    page.data = await response.json();
    page.version = page.data.version;
    page.loadedAt = Date.now();
    render();
  }

  async function watch() {
    for (;;) {
      try {
        const response = await fetch(`/sandbox/api/changes?since=${page.version}`, {
          cache: "no-store", headers: { "X-Sandbox-Secret": SECRET },
        });
        const { version } = await response.json();
        if (version !== page.version) await load();
      } catch (_) {
        await new Promise((resolve) => setTimeout(resolve, 1000)); // server restarting: try again
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "html") node.innerHTML = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  const workspace = () => page.data.workspace;
  const person = (id) => page.data.people.find((p) => p.id === id);
  const me = () => person(page.user) || { id: page.user, name: page.user, tz: "UTC" };

  function userName(id) {
    const known = workspace().users.find((u) => u.id === id);
    return known ? known.real_name || known.name : id;
  }

  function dmChannel() {
    return workspace().channels.find((c) => c.is_im && c.user === page.user);
  }

  function emoji(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  // ---------------------------------------------------------------- mrkdwn

  function unslack(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function slackToken(inner) {
    const bar = inner.indexOf("|");
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? "" : unslack(inner.slice(bar + 1));
    if (target.startsWith("@")) return `<span class="mention">@${escapeHtml(userName(target.slice(1)))}</span>`;
    if (target.startsWith("#")) {
      const channel = workspace().channels.find((c) => c.id === target.slice(1));
      return `<span class="mention">#${escapeHtml(label || (channel && channel.name) || target.slice(1))}</span>`;
    }
    if (target.startsWith("!subteam^")) return `<span class="mention">${escapeHtml(label || "@group")}</span>`;
    if (target.startsWith("!date^")) return escapeHtml(localDate(target, label));
    if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
    const href = /^(https?:|mailto:)/.test(target) ? target : "#";
    return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener">${escapeHtml(label || target)}</a>`;
  }

  // `<!date^EPOCH^{date_short_pretty} at {time}|fallback>`: Slack shows it in the reader's zone, so does the page.
  function localDate(target, fallback) {
    const [, epoch, format = ""] = target.split("^");
    const moment = new Date(Number(epoch) * 1000);
    if (!Number.isFinite(moment.getTime())) return fallback || "";
    const zone = me().tz || "UTC";
    try {
      const date = new Intl.DateTimeFormat("en-GB", { timeZone: zone, day: "numeric", month: "short", year: "numeric" }).format(moment);
      const time = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit" }).format(moment);
      return format.replace(/\{date[a-z_]*\}/g, date).replace(/\{time[a-z_]*\}/g, time) || fallback || "";
    } catch (_) {
      return fallback || "";
    }
  }

  function inline(text) {
    const codes = [];
    return text
      .replace(/`([^`\n]+)`/g, (_, code) => { codes.push(code); return `\u0001${codes.length - 1}\u0001`; })
      .replace(/(^|[\s(>])\*([^*\n]+)\*(?=$|[\s.,;:!?)<])/g, "$1<b>$2</b>")
      .replace(/(^|[\s(>])_([^_\n]+)_(?=$|[\s.,;:!?)<])/g, "$1<i>$2</i>")
      .replace(/(^|[\s(>])~([^~\n]+)~(?=$|[\s.,;:!?)<])/g, "$1<s>$2</s>")
      .replace(/\u0001(\d+)\u0001/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
  }

  // Slack text is already escaped (&amp; &lt; &gt;); <...> are Slack's own tokens.
  function mrkdwn(source) {
    const tokens = [];
    let text = String(source || "").replace(/<([^<>]+)>/g, (_, inner) => {
      tokens.push(slackToken(inner));
      return `\u0002${tokens.length - 1}\u0002`;
    });
    text = text.replace(/&(?!(amp|lt|gt|quot);)/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const blocks = [];
    text = text.replace(/```([\s\S]*?)```/g, (_, code) => {
      blocks.push(`<pre>${code.replace(/^\n/, "")}</pre>`);
      return `\u0003${blocks.length - 1}\u0003`;
    });
    const lines = text.split("\n");
    const out = [];
    let quote = [];
    const flush = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    for (const line of lines) {
      const quoted = line.match(/^&gt;\s?(.*)$/);
      if (quoted) { quote.push(inline(quoted[1])); continue; }
      flush();
      out.push(inline(line));
    }
    flush();
    let html = out.join("<br>").replace(/<\/blockquote><br>/g, "</blockquote>").replace(/<br>(<blockquote>)/g, "$1");
    html = emoji(html);
    html = html.replace(/\u0003(\d+)\u0003/g, (_, i) => blocks[Number(i)]);
    return html.replace(/\u0002(\d+)\u0002/g, (_, i) => tokens[Number(i)]);
  }

  function textObject(object) {
    if (!object) return el("span");
    if (object.type === "mrkdwn") return el("span", { html: mrkdwn(object.text) });
    return el("span", {}, emoji(object.text || ""));
  }

  // ---------------------------------------------------------------- Block Kit

  // `where` says where the blocks live, for the click: {channel, ts} of a message or {view_id}.
  function renderBlocks(blocks, where, errors = {}) {
    return (blocks || []).map((block) => renderBlock(block, where, errors)).filter(Boolean);
  }

  function renderBlock(block, where, errors) {
    switch (block.type) {
      case "header":
        return el("div", { class: "blk-header" }, textObject(block.text));
      case "section": {
        const main = el("div", { class: "sec-main" }, block.text ? textObject(block.text) : null);
        if (block.fields) main.append(el("div", { class: "blk-fields" }, block.fields.map(textObject)));
        return el("div", { class: "blk-section" }, main,
          block.accessory ? renderElement(block.accessory, block.block_id, where) : null);
      }
      case "context":
        return el("div", { class: "blk-context" }, (block.elements || []).map((item) =>
          item.type === "image" ? el("img", { src: item.image_url, alt: item.alt_text || "" }) : textObject(item)));
      case "divider":
        return el("hr", { class: "blk-divider" });
      case "actions":
        return el("div", { class: "blk-actions" }, (block.elements || []).map((e) => renderElement(e, block.block_id, where)));
      case "image":
        return el("div", { class: "blk-image" },
          block.title ? el("div", { class: "title" }, textObject(block.title)) : null,
          el("img", { src: imageUrl(block.image_url), alt: block.alt_text || "" }));
      case "input":
        return renderInput(block, errors[block.block_id]);
      case "rich_text":
        return null; // a person's typed message: its text is shown instead
      default:
        return el("div", { class: "blk-unknown" }, `[${block.type} block]`);
    }
  }

  function imageUrl(url) {
    const match = /files-pri\/(F[A-Z0-9]+)\//.exec(url || "");
    return match ? `/sandbox/files/${match[1]}` : url;
  }

  function click(where, blockId, element, value) {
    return api("click", { ...where, block_id: blockId, action_id: element.action_id, value });
  }

  function optionsOf(element) {
    if (element.type === "users_select") {
      return page.data.people.map((p) => ({ value: p.id, text: { text: p.name } }));
    }
    return (element.options || []).concat(...(element.option_groups || []).map((g) => g.options || []));
  }

  function selectFor(element, onPick, selected) {
    // Slack shows an overflow menu as "⋯"; selects show their placeholder.
    const placeholder = element.placeholder ? element.placeholder.text : element.type === "overflow" ? "⋯" : "Choose…";
    const select = el("select", { class: element.type === "overflow" ? "overflow" : "", "data-action-id": element.action_id,
      onchange: (event) => onPick(event.target.value) },
      el("option", { value: "" }, placeholder),
      optionsOf(element).map((option) =>
        el("option", { value: option.value, selected: option.value === selected }, option.text.text)));
    return select;
  }

  function renderElement(element, blockId, where) {
    switch (element.type) {
      case "button": {
        const button = el("button", {
          type: "button",
          class: `btn ${element.style || ""}`,
          "data-action-id": element.action_id,
          onclick: async () => {
            button.disabled = true;
            try { await click(where, blockId, element); } finally { button.disabled = false; }
          },
        }, emoji(element.text.text));
        return button;
      }
      case "static_select":
      case "users_select":
      case "overflow":
        return selectFor(element, (value) => value && click(where, blockId, element, value));
      case "datepicker":
        return el("input", { type: "date", value: element.initial_date, onchange: (e) => click(where, blockId, element, e.target.value) });
      case "image":
        return el("img", { src: imageUrl(element.image_url), alt: element.alt_text || "", width: 72, height: 72 });
      default:
        return el("span", { class: "blk-unknown" }, `[${element.type}]`);
    }
  }

  function richText(value) {
    // A rich_text value's plain text (Baton prefills its own plain text as one section).
    const walk = (node) => (node.type === "text" ? node.text || "" : (node.elements || []).map(walk).join(""));
    return (value.elements || []).map(walk).join("\n");
  }

  function renderInput(block, error) {
    const element = block.element || {};
    const name = { "data-input": block.block_id, id: `input-${block.block_id}` };
    let control;
    switch (element.type) {
      case "plain_text_input":
        control = element.multiline
          ? el("textarea", { ...name, maxlength: element.max_length }, element.initial_value || "")
          : el("input", { ...name, type: "text", value: element.initial_value, maxlength: element.max_length });
        break;
      case "number_input":
        control = el("input", { ...name, type: "text", inputmode: "decimal", value: element.initial_value });
        break;
      case "datepicker":
        control = el("input", { ...name, type: "date", value: element.initial_date });
        break;
      case "users_select":
      case "radio_buttons":
      case "static_select": {
        const initial = element.initial_user || (element.initial_option && element.initial_option.value);
        control = selectFor(element, () => {}, initial);
        Object.entries(name).forEach(([k, v]) => control.setAttribute(k, v));
        break;
      }
      case "multi_static_select":
      case "multi_users_select":
      case "checkboxes": {
        // Several values: one list box, Ctrl/Cmd-click to pick more (sent as a list).
        const people = element.type === "multi_users_select";
        const chosen = new Set(people ? element.initial_users || [] : (element.initial_options || []).map((o) => o.value));
        const options = people
          ? page.data.people.map((p) => ({ value: p.id, text: { text: p.name } }))
          : element.options || [];
        control = el("select", { ...name, multiple: true, "data-many": "1" },
          options.map((o) => el("option", { value: o.value, selected: chosen.has(o.value) }, o.text.text)));
        break;
      }
      case "datetimepicker": {
        // datetime-local is wall time: the acting person's, as the server reads it back.
        const initial = element.initial_date_time
          ? new Date(element.initial_date_time * 1000).toLocaleString("sv-SE", { timeZone: me().tz || "UTC" })
            .replace(" ", "T").slice(0, 16)
          : "";
        control = el("input", { ...name, type: "datetime-local", value: initial });
        break;
      }
      case "email_text_input":
        control = el("input", { ...name, type: "email", value: element.initial_value });
        break;
      case "url_text_input":
        control = el("input", { ...name, type: "url", value: element.initial_value });
        break;
      case "rich_text_input": {
        const initial = element.initial_value ? richText(element.initial_value) : "";
        control = el("textarea", { ...name }, initial);
        break;
      }
      case "file_input":
        // The sandbox sends the chosen files' names; the fake Slack makes an upload of each.
        control = el("input", { ...name, type: "file", multiple: (element.max_files || 10) > 1, "data-many": "1",
          accept: (element.filetypes || []).map((t) => `.${t}`).join(",") });
        break;
      default:
        control = el("input", { ...name, type: "text", value: element.initial_value });
    }
    return el("div", { class: `blk-input${error ? " has-error" : ""}`, "data-block-id": block.block_id },
      el("label", { for: name.id }, block.label ? block.label.text : "",
        block.optional ? el("span", { class: "optional" }, " (optional)") : null),
      control,
      block.hint ? el("div", { class: "hint" }, block.hint.text) : null,
      el("div", { class: "field-error" }, error || ""));
  }

  // ---------------------------------------------------------------- rendering

  function render() {
    if (!page.data) return;
    renderPeople();
    renderClock();
    renderErrors();
    renderSidebar();
    renderWebhooks();
    renderPane();
    renderModal();
  }

  function renderPeople() {
    const people = page.data.people;
    if (!people.some((p) => p.id === page.user)) page.user = people.length ? people[0].id : null;
    const key = people.map((p) => p.id + p.name).join();
    const select = $("#person");
    if (key !== page.peopleKey) {
      page.peopleKey = key;
      select.replaceChildren(...people.map((p) =>
        el("option", { value: p.id }, `${p.name}${p.title ? " — " + p.title : ""}`)));
    }
    select.value = page.user;
  }

  function renderClock() {
    if (!page.data) return;
    const now = new Date(Date.parse(page.data.now) + (Date.now() - page.loadedAt));
    const tz = me().tz || "UTC";
    let label;
    try {
      label = new Intl.DateTimeFormat("en-GB", {
        timeZone: tz, weekday: "short", day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit",
      }).format(now);
    } catch (_) {
      label = now.toISOString();
    }
    $("#clock").textContent = `${label} (${tz})`;
    const ahead = page.data.offset_seconds;
    const days = Math.floor(ahead / 86400);
    const hours = Math.floor((ahead % 86400) / 3600);
    const minutes = Math.round((ahead % 3600) / 60);
    const parts = [days && `${days} d`, hours && `${hours} h`, minutes && `${minutes} min`].filter(Boolean);
    $("#offset").textContent = ahead > 0 ? `+${parts.join(" ")} ahead` : "";
  }

  function renderErrors() {
    const box = $("#errors");
    const errors = page.data.errors;
    box.hidden = errors.length === 0;
    box.replaceChildren(
      el("strong", {}, `Workflow files have ${errors.length} problem${errors.length === 1 ? "" : "s"}; `
        + "fix them and save, the sandbox reloads them:"),
      el("ul", {}, errors.map((error) => el("li", {}, error))));
  }

  function paneKey(pane) {
    return pane.kind === "channel" ? pane.id : pane.kind;
  }

  function conversation(pane) {
    if (pane.kind === "channel") return pane.id;
    if (pane.kind === "dm") { const dm = dmChannel(); return dm ? dm.id : null; }
    return null;
  }

  function items(channelId) {
    if (!channelId) return [];
    const messages = (workspace().messages[channelId] || []).map((m) => ({ ...m, channel: channelId }));
    const privateNotes = (workspace().ephemerals[page.user] || [])
      .filter((e) => e.channel === channelId)
      .map((e) => ({ ...e, ephemeral: true }));
    return messages.concat(privateNotes).sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  }

  function newest(channelId) {
    const all = items(channelId);
    return all.length ? parseFloat(all[all.length - 1].ts) : 0;
  }

  function renderSidebar() {
    const seen = (page.seen[page.user] = page.seen[page.user] || {});
    $("#workspace-name").textContent = workspace().team.name;
    const channels = workspace().channels.filter((c) => !c.is_im && !c.is_mpim);
    $("#channel-list").replaceChildren(...channels.map((c) =>
      el("a", { href: "#", class: "nav-item", "data-pane": "channel", "data-channel": c.id },
        el("span", { class: "nav-icon" }, "#"), c.name)));
    document.querySelectorAll(".nav-item").forEach((item) => {
      const pane = item.dataset.pane === "channel" ? { kind: "channel", id: item.dataset.channel } : { kind: item.dataset.pane };
      const active = paneKey(pane) === paneKey(page.pane);
      item.classList.toggle("active", active);
      const latest = newest(conversation(pane));
      if (active) seen[paneKey(pane)] = latest;
      item.classList.toggle("unread", !active && latest > (seen[paneKey(pane)] || 0));
    });
  }

  function renderWebhooks() {
    const kept = page.data.webhooks || [];
    $("#webhook-list").replaceChildren(...(kept.length ? kept.slice(-8).reverse().map((hook) => {
      const body = typeof hook.body === "object" && hook.body ? hook.body : {};
      const instance = body.instance ? ` #${body.instance.id}` : "";
      return el("details", { class: "webhook" },
        el("summary", {}, `${body.event || "?"}${instance} → ${hook.url}`),
        el("pre", {}, JSON.stringify(hook.body, null, 2)));
    }) : [el("div", { class: "webhook empty" }, "none yet")]));
  }

  function renderPane() {
    const box = $("#messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const title = $("#pane-title");
    const composer = $("#composer");
    if (page.pane.kind === "map") {
      renderMapPane(box, title, composer);
      return;
    }
    if (page.pane.kind === "home") {
      title.replaceChildren("Baton", el("small", {}, `Home, as ${me().name}`));
      composer.hidden = true;
      const home = workspace().homes[page.user];
      box.replaceChildren(home
        ? el("div", { class: "home" }, renderBlocks(home.blocks, { view_id: home.id }))
        : el("div", { class: "empty" }, "Opening Baton's Home tab…"));
      return;
    }
    composer.hidden = false;
    const channelId = conversation(page.pane);
    const channel = workspace().channels.find((c) => c.id === channelId);
    const label = page.pane.kind === "dm" ? "Baton" : `# ${channel ? channel.name : "?"}`;
    title.replaceChildren(label, el("small", {}, page.pane.kind === "dm" ? `direct messages with ${me().name}` : ""));
    $("#composer-input").placeholder = page.pane.kind === "dm"
      ? "Message Baton — try /workflow help"
      : `Message ${label} — try /workflow start expense-approval`;
    const all = items(channelId);
    box.replaceChildren(...(all.length
      ? all.map(renderMessage)
      : [el("div", { class: "empty" }, "No messages yet. Type /workflow help below.")]));
    if (nearBottom || box.dataset.pane !== paneKey(page.pane) + page.user) box.scrollTop = box.scrollHeight;
    box.dataset.pane = paneKey(page.pane) + page.user;
  }

  // The selected workflow's process map (an SVG the server draws; owners and admins only, as in Slack).
  function renderMapPane(box, title, composer) {
    title.replaceChildren("Process map", el("small", {}, `last 30 days, as ${me().name}`));
    composer.hidden = true;
    const workflows = page.data.workflows || [];
    if (!workflows.some((w) => w.name === page.mapWorkflow)) page.mapWorkflow = workflows.length ? workflows[0].name : null;
    const picker = el("select", { id: "map-workflow", "aria-label": "Workflow",
      onchange: (event) => { page.mapWorkflow = event.target.value; renderPane(); } },
      workflows.map((w) => el("option", { value: w.name, selected: w.name === page.mapWorkflow }, w.title)));
    const key = `${page.mapWorkflow}|${page.user}|${page.data.version}`;
    if (page.mapWorkflow && key !== page.mapKey) { page.mapKey = key; loadMap(key); }
    box.replaceChildren(el("div", { class: "map-pane" }, el("div", { class: "map-tools" }, "Workflow ", picker),
      page.mapFigure && page.mapFigure.key === key ? page.mapFigure.node : el("div", { class: "empty" }, "Drawing the map…")));
  }

  async function loadMap(key) {
    const [workflow, user] = key.split("|");
    const query = new URLSearchParams({ workflow, user, period: "30d" });
    let node;
    try {
      const response = await fetch(`/sandbox/api/map?${query}`, { headers: { "X-Sandbox-Secret": SECRET } });
      if (response.ok) {
        node = el("div", { class: "process-map", html: await response.text() });  // drawn by the server itself
      } else {
        let answer = {};
        try { answer = await response.json(); } catch (_) { /* not JSON */ }
        node = el("div", { class: "empty map-refusal" }, answer.error || `HTTP ${response.status}`);
      }
    } catch (error) {
      node = el("div", { class: "empty map-refusal" }, `Cannot reach the sandbox: ${error.message}`);
    }
    if (key !== page.mapKey) return; // a newer map was asked for meanwhile
    page.mapFigure = { key, node };
    if (page.pane.kind === "map") renderPane();
  }

  function avatar(name, id) {
    let hash = 0;
    for (const ch of id || name) hash = (hash * 31 + ch.charCodeAt(0)) % 360;
    return el("div", { class: "avatar", style: `background: hsl(${hash}, 45%, 42%)` }, (name || "?")[0].toUpperCase());
  }

  function timeOf(ts) {
    try {
      return new Intl.DateTimeFormat("en-GB", { timeZone: me().tz || "UTC", hour: "2-digit", minute: "2-digit", weekday: "short" })
        .format(new Date(parseFloat(ts) * 1000));
    } catch (_) {
      return "";
    }
  }

  function renderMessage(message) {
    const fromBot = message.ephemeral || message.bot_id;
    const name = fromBot ? "Baton" : userName(message.user);
    const where = { channel: message.channel, ts: message.ts };
    const content = message.blocks && message.blocks.some((b) => b.type !== "rich_text")
      ? renderBlocks(message.blocks, where)
      : [el("div", { class: "msg-text", html: mrkdwn(message.text) })];
    const files = (message.files || []).map((file) =>
      el("div", { class: "file" }, (file.mimetype || "").startsWith("image/")
        ? el("img", { src: `/sandbox/files/${file.id}`, alt: file.title })
        : el("a", { href: `/sandbox/files/${file.id}`, target: "_blank" }, `📎 ${file.title}`)));
    return el("div", { class: `msg${message.ephemeral ? " ephemeral" : ""}`, "data-ts": message.ts },
      avatar(name, fromBot ? "baton" : message.user),
      el("div", { class: "msg-body" },
        message.ephemeral ? el("div", { class: "only-you" }, "👁 Only visible to you") : null,
        el("div", { class: "meta" }, el("b", {}, name), fromBot ? el("span", { class: "app-badge", style: "background:#ddd" }, "APP") : null,
          el("time", {}, timeOf(message.ts)), message.edited ? el("span", { class: "edited" }, "(edited)") : null),
        message.thread_ts && message.thread_ts !== message.ts ? el("div", { class: "reply-note" }, "↳ reply in thread") : null,
        content, files));
  }

  function renderModal() {
    const root = $("#modal-root");
    const stack = (workspace().open_views[page.user] || []);
    const view = stack[stack.length - 1];
    if (!view) {
      page.modalKey = null;
      root.replaceChildren();
      return;
    }
    const errors = page.data.view_errors[view.id] || {};
    const key = `${page.user}:${view.id}:${view.hash}`;
    if (key !== page.modalKey) {
      page.modalKey = key;
      root.replaceChildren(buildModal(view));
    }
    root.querySelectorAll(".blk-input").forEach((box) => {
      const error = errors[box.dataset.blockId] || "";
      box.classList.toggle("has-error", Boolean(error));
      box.querySelector(".field-error").textContent = error;
    });
    const known = new Set([...root.querySelectorAll(".blk-input")].map((b) => b.dataset.blockId));
    const other = Object.entries(errors).filter(([blockId]) => !known.has(blockId)).map(([, e]) => e);
    root.querySelector(".modal-error").textContent = other.join(" ");
  }

  function buildModal(view) {
    const where = { view_id: view.id };
    const close = () => api("close", where);
    const submit = el("button", { type: "submit", class: "btn primary submit" }, view.submit ? view.submit.text : "Submit");
    const form = el("form", {
      class: "modal", role: "dialog", "aria-modal": "true", "data-view-id": view.id,
      onsubmit: async (event) => {
        event.preventDefault();
        const values = {};
        form.querySelectorAll("[data-input]").forEach((input) => {
          if (!input.dataset.many) values[input.dataset.input] = input.value;
          else if (input.type === "file") values[input.dataset.input] = [...input.files].map((f) => f.name);
          else values[input.dataset.input] = [...input.selectedOptions].map((o) => o.value);
        });
        submit.disabled = true;
        try { await api("submit", { ...where, values }); } finally { submit.disabled = false; }
      },
    },
    el("div", { class: "modal-head" },
      el("h2", {}, view.title ? emoji(view.title.text) : ""),
      el("button", { type: "button", class: "modal-x", "aria-label": "Close", onclick: close }, "×")),
    el("div", { class: "modal-body" }, el("div", { class: "modal-error" }), renderBlocks(view.blocks, where)),
    el("div", { class: "modal-foot" },
      el("button", { type: "button", class: "btn cancel", onclick: close }, view.close ? view.close.text : "Cancel"),
      view.submit ? submit : null));
    return el("div", { class: "overlay" }, form);
  }

  // ---------------------------------------------------------------- wiring

  function show(pane) {
    page.pane = pane;
    if (pane.kind === "home") api("home", {}); // Slack sends app_home_opened; Baton publishes the tab
    render();
    if (pane.kind !== "home" && pane.kind !== "map") $("#composer-input").focus();
  }

  document.addEventListener("click", (event) => {
    const item = event.target.closest(".nav-item");
    if (!item) return;
    event.preventDefault();
    show(item.dataset.pane === "channel" ? { kind: "channel", id: item.dataset.channel } : { kind: item.dataset.pane });
  });

  $("#person").addEventListener("change", (event) => {
    page.user = event.target.value;
    localStorage.setItem("baton.sandbox.user", page.user);
    page.modalKey = null;
    show(page.pane.kind === "home" || page.pane.kind === "map" ? page.pane : { kind: "dm" });
  });

  $("#composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#composer-input");
    const text = input.value.trim();
    const channel = conversation(page.pane);
    if (!text || !channel) return;
    input.value = "";
    await api("send", { channel, text });
  });

  document.querySelectorAll("[data-advance]").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await api("time", { by: button.dataset.advance }); } finally { button.disabled = false; }
    });
  });

  setInterval(renderClock, 15000);
  load().then(() => {
    if (page.user) localStorage.setItem("baton.sandbox.user", page.user);
    render();
  }).catch((error) => toast(`Cannot reach the sandbox: ${error.message}`)).finally(watch);
})();
