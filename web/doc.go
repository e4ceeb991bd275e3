// Package web holds the browser side of Spell Coven: coven-client.js, the client library of the event
// stream that any web app can import, and the sandbox's demo page (index.html, app.js, style.css),
// served as static files by the edge. There is no Go code to import here: the package's tests run the
// library's own tests under Node and check the library against the real hub (see docs/web.md).
package web
