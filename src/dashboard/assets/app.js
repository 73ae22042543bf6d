// The dashboard page: one Server-Sent Events stream (/api/events) brings a snapshot, then
// updates; plain DOM (text only, never HTML from the server: peer addresses and prompts come
// from other peers) and Vega-Lite charts fed point by point.
/* global vega, vegaLite */
'use strict'

const MAX_CLIENT_POINTS = 4000
const $ = (id) => document.getElementById(id)
const state = { snapshot: undefined, offset: 0, steps: [], heldOut: [], charts: {}, chartTasks: '' }

function el (tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else if (k === 'text') node.textContent = v
    else if (k.includes('-')) node.setAttribute(k, v)
    else node[k] = v
  }
  for (const child of children) if (child != null) node.append(child)
  return node
}

const short = (id) => id === undefined ? '-' : id.length <= 16 ? id : `${id.slice(0, 6)}…${id.slice(-6)}`
const fixed = (x, digits = 4) => typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-'
const serverNow = () => Date.now() + state.offset
const clock = (t) => new Date(t).toLocaleTimeString()

function duration (ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 120 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

function taskLabel (id) {
  const t = state.snapshot?.tasks.find((x) => x.id === id)
  if (t === undefined) return ''
  return t.kind === 'expert' ? `${t.objective}, cluster ${t.cluster}` : t.kind
}

// ---- coverage ---------------------------------------------------------------------------

function renderCoverage () {
  const rows = state.snapshot?.coverage ?? []
  const body = $('coverage').tBodies[0]
  body.replaceChildren(...rows.map(coverageRow))
  const done = rows.filter((r) => r.checkpoint?.final === true).length
  $('coverage-summary').textContent = rows.length > 0 ? `${done}/${rows.length} tasks announced final` : ''
}

function coverageRow (row) {
  const now = serverNow()
  const holders = row.holders.length === 0
    ? el('span', { class: 'muted', text: row.checkpoint?.final === true ? 'done' : 'free' })
    : el('div', {}, ...row.holders.map((h) => el('div', {
      class: 'holder mono',
      text: `${short(h.peer)}  step ${h.step ?? '-'}  loss ${fixed(h.loss)}  ${duration(h.leaseUntil - now)}`
    })))
  const c = row.checkpoint
  const checkpoint = c === undefined
    ? el('span', { class: 'muted', text: '-' })
    : el('span', { class: 'mono', text: `step ${c.step}${c.final ? ' final' : ''}  ${short(c.cid)}`, title: c.cid })
  const v = row.verified
  const verified = v === undefined
    ? el('span', { class: 'muted', text: c === undefined ? '-' : 'not checked' })
    : v.by === 'own'
      ? el('span', { class: 'ok', text: 'own checkpoint' })
      : el('span', {
        class: v.accepted ? 'ok' : 'bad',
        text: v.accepted ? `${fixed(v.heldOutLoss)} (${v.by === 'final' ? 'final' : 'lease evidence'})` : `refused: ${v.reason}`
      })
  const tr = el('tr', { 'data-task': row.task, 'data-step': c === undefined ? '' : String(c.step) },
    el('td', { class: 'mono', text: row.task }),
    el('td', { text: taskLabel(row.task) }),
    el('td', {}, holders),
    el('td', { class: 'num', text: `${row.holders.length}/${row.replicas}` }),
    el('td', { class: 'checkpoint' }, checkpoint),
    el('td', { class: 'num', text: c === undefined ? '-' : fixed(c.heldOutLoss) }),
    el('td', {}, verified))
  if (c?.final === true) tr.classList.add('done')
  return tr
}

// ---- charts -----------------------------------------------------------------------------

/** The snapshot's Vega-Lite specs (src/dashboard/charts.ts), compiled here; rebuilt only when the tasks change. */
async function buildCharts () {
  if (typeof vega === 'undefined' || typeof vegaLite === 'undefined') return
  const key = state.snapshot.tasks.map((t) => t.id).join(',')
  if (key === state.chartTasks) return refreshCharts()
  state.chartTasks = key
  for (const { view } of Object.values(state.charts)) view.finalize()
  state.charts = {}
  for (const [name, chart] of Object.entries(state.snapshot.charts)) {
    const container = $(`chart-${name}`)
    if (container === null) continue
    const view = new vega.View(vega.parse(vegaLite.compile(chart.spec).spec), { renderer: 'svg', container, hover: true })
    state.charts[name] = { view, data: chart.data }
  }
  await refreshCharts()
}

async function refreshCharts () {
  await Promise.all(Object.values(state.charts).map(({ view, data }) => view.data(data, state[data]).runAsync()))
}

/** Appends a point; when the page holds too many, every other one goes (the server thins its copy alike). */
function addPoint (kind, point) {
  state[kind].push(point)
  if (state[kind].length > MAX_CLIENT_POINTS) {
    state[kind] = state[kind].filter((_, i) => i % 2 === 0)
    void refreshCharts()
    return
  }
  for (const { view, data } of Object.values(state.charts)) if (data === kind) view.insert(kind, [point]).run()
}

// ---- gallery, ensembles, peers, log -----------------------------------------------------

function renderGallery () {
  const rows = state.snapshot?.gallery ?? []
  if (rows.length === 0) return
  $('gallery').replaceChildren(...rows.map((row) => el('div', { class: 'gallery-row', 'data-task': row.task },
    el('div', { class: 'gallery-label' },
      el('div', { class: 'mono', text: row.task }),
      el('div', { class: 'muted small', text: `${taskLabel(row.task)}, step ${row.step}` }),
      el('div', { class: 'muted small mono', text: short(row.cid), title: row.cid }),
      el('div', { class: 'muted small', text: `drawn ${clock(row.drawnAt)} in ${row.ms} ms` })),
    el('div', { class: 'images' }, ...row.images.map(tile)))))
}

function tile (image) {
  return el('div', { class: 'tile' },
    el('img', { src: `data:image/png;base64,${image.png}`, alt: image.prompt, title: image.prompt }),
    el('span', { text: image.prompt }))
}

function renderEnsembles () {
  const { list = [], sampling = {} } = state.snapshot?.ensembles ?? {}
  if (list.length === 0) {
    $('ensembles').replaceChildren(el('p', { class: 'muted', text: 'none (an ensemble assembled here appears once pinned)' }))
    return
  }
  $('ensembles').replaceChildren(...list.map((e) => {
    const select = el('select', { 'aria-label': 'prompt' }, ...(sampling.prompts ?? []).map((p) => el('option', { value: p, text: p })))
    const button = el('button', { class: 'sample', text: `draw ${sampling.count ?? ''} samples`, 'data-ensemble': e.cid })
    button.disabled = sampling.enabled !== true || (sampling.prompts ?? []).length === 0
    if (sampling.enabled !== true) button.title = 'this dashboard is read-only (bound beyond loopback)'
    button.addEventListener('click', () => { void drawSamples(e.cid, select.value, button) })
    const experts = e.experts.map((x) => `c${x.cluster} ${x.objective}`).join(', ')
    return el('div', { class: 'ensemble', 'data-ensemble': e.cid },
      el('div', { class: 'mono', text: e.cid }),
      el('div', { class: 'muted small', text: `${experts}; routing ${e.routing}` }),
      el('div', { class: 'controls' }, select, button))
  }))
}

async function drawSamples (ensemble, prompt, button) {
  button.disabled = true
  const out = $('samples')
  out.replaceChildren(el('p', { class: 'muted', text: `drawing "${prompt}"…` }))
  try {
    const seed = 1 + Math.floor(Math.random() * 1e6)
    const res = await fetch('/api/sample', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ensemble, prompt, seed })
    })
    const body = await res.json()
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`)
    out.replaceChildren(
      el('div', { class: 'muted small', text: `"${prompt}", seed ${body.seed}, ${body.ms} ms` }),
      el('div', { class: 'images', id: 'sample-images' }, ...body.images.map(tile)))
  } catch (err) {
    out.replaceChildren(el('p', { class: 'bad', text: String(err.message ?? err) }))
  } finally {
    button.disabled = false
  }
}

function renderPeers () {
  const p = state.snapshot?.peers
  if (p === undefined) return
  $('peer-summary').textContent = `${p.peers} connected, ${p.connections} connections, mesh ${p.mesh}, in run ${p.run}`
  $('peers').tBodies[0].replaceChildren(...p.rows.map((r) => el('tr', { 'data-peer': r.id },
    el('td', { class: 'mono', text: short(r.id), title: r.id }),
    el('td', { text: r.direction === 'inbound' ? 'in' : 'out' }),
    // The peer id is the first column: the address is shown without its /p2p/ suffix.
    el('td', { class: 'mono small addr', text: r.addrs.map((a) => a.replace(/\/p2p\/[^/]+$/, '')).join(' ') }),
    el('td', { text: r.inMesh ? '✓' : '' }),
    el('td', { text: r.inRun ? '✓' : '' }),
    el('td', { class: `num ${r.score < 0 ? 'bad' : ''}`, text: fixed(r.score, 2) }))))
}

function addLog (line) {
  const list = $('log')
  list.prepend(el('li', {}, el('time', { text: clock(line.t) }), line.text))
  while (list.children.length > 200) list.lastElementChild.remove()
}

function renderHeader () {
  const s = state.snapshot
  $('title').textContent = s.title
  document.title = `${s.title} — hddm`
  $('who').textContent = s.node === undefined
    ? 'waiting for the run to start…'
    : `run ${s.node.runName} ${short(s.node.runId)} · peer ${short(s.node.peerId)}`
}

// ---- the stream -------------------------------------------------------------------------

function connect () {
  const events = new EventSource('/api/events')
  const status = $('connection')
  events.onopen = () => { status.dataset.state = 'live'; status.textContent = 'live' }
  events.onerror = () => { status.dataset.state = 'reconnecting'; status.textContent = 'reconnecting…' }
  const on = (name, handle) => events.addEventListener(name, (e) => { handle(JSON.parse(e.data)) })
  on('snapshot', (s) => {
    state.snapshot = s
    state.offset = s.now - Date.now()
    state.steps = s.steps
    state.heldOut = s.heldOut
    renderHeader()
    renderCoverage()
    renderGallery()
    renderEnsembles()
    renderPeers()
    $('log').replaceChildren()
    for (const line of s.log) addLog(line)
    void buildCharts()
  })
  on('coverage', (c) => { if (state.snapshot) { state.snapshot.coverage = c.rows; state.offset = c.now - Date.now(); renderCoverage() } })
  on('peers', (p) => { if (state.snapshot) { state.snapshot.peers = p; renderPeers() } })
  on('step', (p) => { addPoint('steps', p) })
  on('heldOut', (p) => { addPoint('heldOut', p) })
  on('log', addLog)
  on('gallery', (row) => {
    if (!state.snapshot) return
    const rows = state.snapshot.gallery.filter((r) => r.task !== row.task)
    const order = state.snapshot.tasks.map((t) => t.id)
    state.snapshot.gallery = [...rows, row].sort((a, b) => order.indexOf(a.task) - order.indexOf(b.task))
    renderGallery()
  })
  on('ensembles', (e) => { if (state.snapshot) { state.snapshot.ensembles = e; renderEnsembles() } })
}

connect()
// Lease countdowns move without the server's help.
setInterval(() => { if (state.snapshot) renderCoverage() }, 1000)
