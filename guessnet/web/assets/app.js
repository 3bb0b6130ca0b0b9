// The scoreboard: one EventSource, no polling, no reload. Every name on the page comes from
// players, so it is only ever set as text (textContent), never parsed as HTML.
"use strict";

let clocks = [];  // [element, seconds left, when received]

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fill(container, nodes, emptyText, emptyTag) {
  container.replaceChildren(...(nodes.length ? nodes : [el(emptyTag || "p", emptyText, "empty")]));
}

function roomCard(room, now) {
  const card = el("article", null, "card");
  card.append(el("h3", room.name));
  const meta = el("p", `round ${room.round} \u00b7 ${room.tries} tries each`, "meta");
  if (room.time_left !== null) {
    const clock = el("span", "", "clock");
    meta.append(" \u00b7 ", clock);
    clocks.push([clock, room.time_left, now]);
  }
  card.append(meta);
  const list = el("ul", null, "members");
  for (const member of room.members) {
    const item = el("li", null, member.away ? "away" : "");
    item.append(el("span", member.away ? `${member.name} (away)` : member.name));
    item.append(el("span", `${member.used}/${room.tries}`, "tries"));
    list.append(item);
  }
  card.append(list);
  return card;
}

function roundLine(round) {
  const item = el("li");
  item.append(`${round.room} #${round.round ?? "?"}: `);
  if (round.outcome === "won") {
    item.append(el("span", round.winner, "winner"), " won");
  } else if (round.outcome === "timeout") {
    item.append("time ran out");
  } else {
    item.append("nobody guessed it");
  }
  if (round.secret !== null && round.secret !== undefined) {
    item.append(", the number was ", el("span", round.secret, "secret"));
  }
  return item;
}

// Any match game: a grid of rows x columns squares, each a mark or empty; a game may add
// its own look with a rule for ".board.GAME" in style.css.
function board(match) {
  const rows = match.rows || 3, columns = match.columns || 3;
  const box = el("div", null, `board ${match.game || ""}`);
  box.append(el("div", match.title || match.game, "game"));
  box.append(el("div", `${match.x} (X) vs ${match.o} (O)`, "players"));
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
  box.append(el("div", match.turn ? `${match.turn} to play` : "over", "turn"));
  return box;
}

function leaderTable(name, rows, title) {
  const box = el("div");
  box.append(el("h3", title || name));
  if (!rows.length) {
    box.append(el("p", "No results yet.", "empty"));
    return box;
  }
  const table = el("table");
  const head = el("tr");
  for (const title of ["#", "player", "wins", "played"]) {
    head.append(el("th", title, title === "player" ? "" : "num"));
  }
  table.append(head);
  rows.forEach((row, i) => {
    const tr = el("tr");
    tr.append(el("td", i + 1, "num"), el("td", row.player), el("td", row.wins, "num"),
              el("td", row.played, "num"));
    table.append(tr);
  });
  box.append(table);
  return box;
}

function render(state) {
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
  fill(document.getElementById("leaders"),
       Object.keys(state.leaders).map(
         (name) => leaderTable(name, state.leaders[name], (state.titles || {})[name])),
       "No results yet.");
  tick();
}

function tick() {
  const now = Date.now();
  for (const [node, left, since] of clocks) {
    const seconds = Math.max(0, Math.ceil(left - (now - since) / 1000));
    node.textContent = `${seconds} s left`;
  }
}

function status(text, cls) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = `status ${cls}`;
}

function connect() {
  const events = new EventSource("/events");
  events.addEventListener("state", (event) => {
    render(JSON.parse(event.data));
    status("live", "live");
  });
  events.addEventListener("open", () => status("live", "live"));
  events.addEventListener("error", () => {
    status("reconnecting to the server...", "lost");
    if (events.readyState === EventSource.CLOSED) {  // the browser gave up: start again
      setTimeout(connect, 2000);
    }
  });
}

setInterval(tick, 1000);
connect();
