// The scoreboard: one EventSource, no polling, no reload. Every name on the page comes from
// players, so it is only ever set as text (textContent), never parsed as HTML. The page is one
// screen: after each update, what does not fit in a section is dropped ("+N more").
"use strict";

let clocks = [];  // [element, seconds left, when received]
let lastState = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

// A player's name (or a room's): cut with an ellipsis when long, whole on hover.
function nameEl(tag, text, cls) {
  const node = el(tag, text, `name ${cls || ""}`);
  node.title = String(text);
  return node;
}

function fill(container, nodes, emptyText, emptyTag) {
  container.replaceChildren(...(nodes.length ? nodes : [el(emptyTag || "p", emptyText, "empty")]));
}

function roomCard(room, now) {
  const card = el("article", null, "card item");
  card.append(nameEl("h3", room.name));
  const meta = el("p", `round ${room.round} \u00b7 ${room.tries} tries each`, "meta");
  if (room.paused) {
    meta.append(" \u00b7 ", el("span", "paused by the host", "paused"));
  } else if (room.time_left !== null) {
    const clock = el("span", "", "clock");
    meta.append(" \u00b7 ", clock);
    clocks.push([clock, room.time_left, now]);
  }
  card.append(meta);
  const list = el("ul", null, "members");
  for (const member of room.members) {
    const item = el("li", null, member.away ? "away item" : "item");
    item.append(nameEl("span", member.away ? `${member.name} (away)` : member.name));
    item.append(el("span", `${member.used}/${room.tries}`, "tries"));
    list.append(item);
  }
  card.append(list);
  return card;
}

function clockTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

function roundLine(round) {
  const item = el("li", null, "item");
  item.append(el("span", clockTime(round.ended), "when"), ` ${round.room} #${round.round ?? "?"}: `);
  if (round.outcome === "won") {
    item.append(el("span", round.winner, "winner"), " won");
  } else if (round.outcome === "timeout") {
    item.append("time ran out");
  } else if (round.outcome === "stopped") {
    item.append("ended by the host");
  } else {
    item.append("nobody guessed it");
  }
  if (round.secret !== null && round.secret !== undefined) {
    item.append(", the number was ", el("span", round.secret, "secret"));
  }
  item.title = item.textContent;
  return item;
}

// Any match game: a grid of rows x columns squares, each a mark or empty; a game may add
// its own look with a rule for ".board.GAME" in style.css.
function board(match) {
  const rows = match.rows || 3, columns = match.columns || 3;
  const box = el("div", null, `board item ${match.game || ""}`);
  box.append(el("div", match.title || match.game, "game"));
  box.append(nameEl("div", `${match.x} (X)`, "players"),  // one line each: both names show
             nameEl("div", `vs ${match.o} (O)`, "players"));
  const table = el("table");
  for (let row = 0; row < rows; row++) {
    const tr = el("tr");
    for (let col = 0; col < columns; col++) {
      const mark = (match.board[row * columns + col] || " ").trim();
      tr.append(el("td", mark, mark ? `mark-${mark}` : null));
    }
    table.append(tr);
  }
  box.append(table);
  box.append(nameEl("div", match.turn ? `to play: ${match.turn}` : "over", "turn"));
  return box;
}

function leaderBoard(rows, title) {
  const box = el("div");
  box.append(el("h3", title, "board-title"));
  const list = el("ol", null, "ranking");
  if (!rows.length) list.append(el("li", "no results yet", "empty"));
  rows.forEach((row, i) => {
    const item = el("li", null, "item");
    item.append(el("span", i + 1, "rank"), nameEl("span", row.player),
                el("span", `${row.wins}/${row.played}`, "num"));
    list.append(item);
  });
  box.append(list);
  return box;
}

function leaders(state) {
  const boards = Object.keys(state.leaders).map(
    (name) => leaderBoard(state.leaders[name], (state.titles || {})[name] || name));
  return boards;
}

// Drop what does not fit in ``box``: one item at a time from whichever of ``lists`` holds the
// most, each list saying how many it lost ("+N more").
function overflowing(box) {
  return box.scrollHeight > box.clientHeight + 1;
}

// Then put back, newest cut first, whatever fits after all (a room's members cut before the
// room itself went are not missed; a narrow phone keeps as much as it can show).
function fit(box, lists) {
  const hidden = new Map();
  const cut = [];
  const count = (list, by) => {
    hidden.set(list, (hidden.get(list) || 0) + by);
    let more = list.querySelector(":scope > .more");
    if (more === null) {
      more = el(list.tagName === "UL" || list.tagName === "OL" ? "li" : "p", "", "more");
      list.append(more);
    }
    more.textContent = `+${hidden.get(list)} more`;
    if (!hidden.get(list)) more.remove();
  };
  for (let guard = 0; guard < 2000 && overflowing(box); guard++) {
    let longest = null, most = 0;
    for (const list of lists) {
      const items = list.querySelectorAll(":scope > .item").length;
      if (items > most) [longest, most] = [list, items];
    }
    if (longest === null) break;
    const items = longest.querySelectorAll(":scope > .item");
    const item = items[items.length - 1];
    cut.push([longest, item]);
    item.remove();
    count(longest, 1);
  }
  for (const [list, item] of cut.reverse()) {
    if (!box.contains(list)) continue;  // its room was cut too
    list.insertBefore(item, list.querySelector(":scope > .more"));
    count(list, -1);
    if (overflowing(box)) {
      item.remove();
      count(list, 1);
    }
  }
}

function fitAll() {
  const rooms = document.getElementById("rooms");
  fit(rooms, [...rooms.querySelectorAll(".members"), rooms]);  // members before whole rooms
  const rounds = document.getElementById("rounds");
  fit(rounds, [rounds]);
  const matches = document.getElementById("matches");
  fit(matches, [matches]);
  const board = document.getElementById("leaders");
  fit(board, [...board.querySelectorAll(".ranking")]);
}

function render(state) {
  lastState = state;
  const now = Date.now();
  clocks = [];
  document.getElementById("online").textContent =
    `${state.online} ${state.online === 1 ? "player" : "players"} online`;
  fill(document.getElementById("rooms"), state.rooms.map((r) => roomCard(r, now)),
       "No room is playing yet.");
  fill(document.getElementById("rounds"), state.rounds.map(roundLine),
       "No round has ended yet.", "li");
  fill(document.getElementById("matches"), state.matches.map(board),
       "No match is being played.");
  const boards = leaders(state);
  boards.unshift(el("p", "Players with an account are ranked: register to be on the board.",
                    "who-counts"));
  fill(document.getElementById("leaders"), boards, "No results yet.");
  fitAll();
  tick();
}

function tick() {
  const now = Date.now();
  for (const [node, left, since] of clocks) {
    const seconds = Math.max(0, Math.ceil(left - (now - since) / 1000));
    node.textContent = `${seconds}\u00a0s\u00a0left`;
  }
}

function status(text, cls) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = `status ${cls}`;
}

function connect() {
  const events = new EventSource("/events");
  events.addEventListener("state", (event) => {  // "live" only once the game is shown
    render(JSON.parse(event.data));
    status("live", "live");
  });
  events.addEventListener("error", () => {
    status("reconnecting to the server...", "lost");
    if (events.readyState === EventSource.CLOSED) {  // the browser gave up: start again
      setTimeout(connect, 2000);
    }
  });
}

window.addEventListener("resize", () => { if (lastState !== null) render(lastState); });
setInterval(tick, 1000);
connect();
