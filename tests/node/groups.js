// kafkajs 2.2.4 as a consumer-group member against a logship collector.
//
// usage: node groups.js BOOTSTRAP METRICS_URL   (NODE_PATH=.ci/node/node_modules)
//
// kafkajs implements neither static membership (its consumer never sends a
// group.instance.id) nor cooperative rebalancing (only the eager
// RoundRobin assigner), so this checks what it does implement, against the
// rounds Kafka's eager protocol yields: one rebalance round per membership
// change, every member rejoining once (one GROUP_JOIN event each) and no
// round more. Prints "ok kafkajs" at the end; any failure exits non-zero.
'use strict'
const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')

const [bootstrap, metricsUrl] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'kafkajs-groups', brokers: [bootstrap], logLevel: logLevel.NOTHING })

async function rebalances () {
  const text = await (await fetch(metricsUrl)).text()
  return text.split('\n')
    .filter(l => l.startsWith('logship_collector_group_rebalances_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
}

async function waitFor (what, cond, limitMs = 30000) {
  const deadline = Date.now() + limitMs
  while (!(await cond())) {
    assert(Date.now() < deadline, `timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

// Waits until no rebalance has started for `quietMs`; returns the count.
async function settle (quietMs = 1500) {
  let last = await rebalances()
  let since = Date.now()
  const deadline = Date.now() + 30000
  while (Date.now() - since < quietMs) {
    assert(Date.now() < deadline, 'the group never settled')
    await new Promise(resolve => setTimeout(resolve, 100))
    const now = await rebalances()
    if (now !== last) { last = now; since = Date.now() }
  }
  return last
}

function member (groupId, topic) {
  // kafkajs heartbeats (and so learns of a rebalance) only between fetches;
  // a short fetch wait keeps its rounds quick, as it would against Kafka.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 300 })
  const state = { consumer, joins: [], assigned: [] }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    state.joins.push(e.payload)
    state.assigned = (e.payload.memberAssignment[topic] || []).slice().sort()
  })
  return state
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const topic = `kjs-${Date.now()}`
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true })
  const groupId = `kjs-group-${Date.now()}`
  const base = await rebalances()

  const c1 = member(groupId, topic)
  await c1.consumer.connect()
  await c1.consumer.subscribe({ topics: [topic], fromBeginning: true })
  await c1.consumer.run({ eachMessage: async () => {} })
  await waitFor('c1 assigned', () => c1.assigned.length === 4)
  assert.strictEqual(await settle(), base + 1, 'c1 alone: one round')
  assert.strictEqual(c1.joins.length, 1)

  const c2 = member(groupId, topic)
  const started = Date.now()
  await c2.consumer.connect()
  await c2.consumer.subscribe({ topics: [topic], fromBeginning: true })
  await c2.consumer.run({ eachMessage: async () => {} })
  await waitFor('c1 and c2 sharing', () => c1.assigned.length === 2 && c2.assigned.length === 2)
  console.log(`c2 joined in ${Date.now() - started} ms`)
  assert.strictEqual(await settle(), base + 2, 'c2 joins: one eager round')
  assert.deepStrictEqual([c1.joins.length, c2.joins.length], [2, 1])
  assert.deepStrictEqual([...c1.assigned, ...c2.assigned].sort(), [0, 1, 2, 3])
  assert.notStrictEqual(c1.joins[1].leaderId, undefined)

  // c2 disconnects: kafkajs sends LeaveGroup; one round, c1 takes all.
  const left = Date.now()
  await c2.consumer.disconnect()
  await waitFor('c1 taking everything', () => c1.assigned.length === 4)
  console.log(`c2 left, c1 reassigned in ${Date.now() - left} ms`)
  assert.strictEqual(await settle(), base + 3, 'c2 leaves: one round')
  assert.strictEqual(c1.joins.length, 3)

  // Described as Kafka's tools show it: one dynamic member (no instance id).
  const described = await admin.describeGroups([groupId])
  const g = described.groups[0]
  assert.strictEqual(g.state, 'Stable')
  assert.strictEqual(g.members.length, 1)
  await c1.consumer.disconnect()
  await admin.disconnect()
  console.log('ok kafkajs')
}

main().catch(e => { console.error(e); process.exit(1) })
