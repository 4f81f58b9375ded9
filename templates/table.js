/* Sortable, filterable tables of the edge-harness report (no dependencies).
 *
 * A table.data either has its rows in the page, or has an empty tbody and a
 * <script type="application/json" class="table-rows" data-for="ID"> holding
 * {"strings": [...], "rows": [[kind, cell, ...], ...]}: each cell is a text, or
 * [text, value, href, note], where every text and note is an index into strings.
 * Numeric columns sort on the cells' value (data-value); missing values sort last.
 * At most data-page-size matching rows are in the document at a time ("Show more"
 * adds the next ones), so sorting 10,000 rows does not lay out 10,000 rows.
 */
(function () {
  "use strict";

  function headerTypes(table) {
    return Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.getAttribute("data-type");
    });
  }

  function sortKey(value, text, type) {
    if (type === "number") {
      var n = value === null || value === "" ? NaN : parseFloat(value);
      return isNaN(n) ? null : n;
    }
    var key = value !== null ? String(value) : text;
    return key === "" ? null : key;
  }

  function rowsFromJson(source) {
    var data = JSON.parse(source.textContent);
    var strings = data.strings;
    return data.rows.map(function (row) {
      return {
        kind: strings[row[0]],
        tr: null,
        cells: row.slice(1).map(function (cell) {
          cell = Array.isArray(cell) ? cell : [cell];
          return {
            text: strings[cell[0]],
            value: cell[1] === undefined ? null : cell[1],
            href: cell[2] || null,
            note: cell[3] === undefined || cell[3] === null ? null : strings[cell[3]]
          };
        })
      };
    });
  }

  function rowsFromDocument(tbody) {
    return Array.prototype.map.call(tbody.rows, function (tr) {
      return {
        kind: tr.className,
        tr: tr,
        cells: Array.prototype.map.call(tr.cells, function (td) {
          var note = td.querySelector(".note");
          return {
            text: td.firstChild && td.firstChild !== note ? td.firstChild.textContent : "",
            value: td.getAttribute("data-value"),
            note: note ? note.textContent : null
          };
        })
      };
    });
  }

  function buildRow(row, numeric, root) {
    var tr = document.createElement("tr");
    tr.className = row.kind;
    row.cells.forEach(function (cell, c) {
      var td = document.createElement("td");
      if (numeric[c]) td.className = "num";
      if (cell.value !== null) td.setAttribute("data-value", cell.value);
      var holder = td;
      if (cell.href) {
        holder = document.createElement("a");
        holder.setAttribute("href", root + cell.href);
        td.appendChild(holder);
      }
      holder.appendChild(document.createTextNode(cell.text));
      if (cell.note !== null) {
        var note = document.createElement("div");
        note.className = "note";
        note.textContent = cell.note;
        td.appendChild(note);
      }
      tr.appendChild(td);
    });
    return tr;
  }

  function count(n) {
    return n.toLocaleString("en-US");
  }

  function init(table) {
    var tbody = table.tBodies[0];
    var types = headerTypes(table);
    var numeric = types.map(function (t) { return t === "number"; });
    var root = table.getAttribute("data-root") || "";
    var pageSize = parseInt(table.getAttribute("data-page-size"), 10) || 500;
    var source = document.querySelector('script.table-rows[data-for="' + table.id + '"]');
    var rows = source ? rowsFromJson(source) : rowsFromDocument(tbody);
    rows.forEach(function (row, index) {
      row.index = index;
      row.visible = true;
      row.keys = row.cells.map(function (cell, c) { return sortKey(cell.value, cell.text, types[c]); });
      row.search = row.cells.map(function (cell) {
        return cell.note ? cell.text + " " + cell.note : cell.text;
      }).join(" ").toLowerCase();
    });
    var tools = document.querySelector('.table-tools[data-for="' + table.id + '"]');
    var more = document.querySelector('.table-more[data-for="' + table.id + '"]');
    var counter = tools ? tools.querySelector("[data-count]") : null;
    var shown = pageSize;

    function draw() {
      var matching = rows.filter(function (row) { return row.visible; });
      var fragment = document.createDocumentFragment();
      matching.slice(0, shown).forEach(function (row) {
        if (!row.tr) row.tr = buildRow(row, numeric, root);
        fragment.appendChild(row.tr);
      });
      tbody.textContent = "";
      tbody.appendChild(fragment);
      var drawn = Math.min(shown, matching.length);
      if (counter) {
        var text = matching.length === rows.length
          ? count(rows.length) + " rows"
          : count(matching.length) + " of " + count(rows.length) + " rows match";
        if (drawn < matching.length) text += ", first " + count(drawn) + " shown";
        counter.textContent = text;
      }
      if (more) more.hidden = drawn >= matching.length;
    }

    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
    headers.forEach(function (th, column) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var sign = ascending ? 1 : -1;
        rows.sort(function (a, b) {
          var x = a.keys[column], y = b.keys[column];
          if (x === null || y === null) {
            if (x === y) return a.index - b.index;
            return x === null ? 1 : -1;  // missing values last, either direction
          }
          var order = types[column] === "number" ? x - y : collator.compare(x, y);
          return order !== 0 ? sign * order : a.index - b.index;
        });
        draw();
      });
    });

    if (more) {
      more.querySelector("button").addEventListener("click", function () {
        shown += pageSize;
        draw();
      });
    }
    if (tools) {
      var text = tools.querySelector("[data-filter-text]");
      var selects = Array.prototype.slice.call(tools.querySelectorAll("select[data-filter-column]"));
      var filter = function () {
        var query = text ? text.value.trim().toLowerCase() : "";
        var chosen = selects.map(function (select) {
          return [parseInt(select.getAttribute("data-filter-column"), 10), select.value];
        });
        rows.forEach(function (row) {
          row.visible = (!query || row.search.indexOf(query) !== -1) && chosen.every(function (pick) {
            return !pick[1] || row.cells[pick[0]].text === pick[1];
          });
        });
        shown = pageSize;
        draw();
      };
      if (text) text.addEventListener("input", filter);
      selects.forEach(function (select) { select.addEventListener("change", filter); });
    }
    draw();
  }

  document.querySelectorAll("table.data").forEach(init);
})();
