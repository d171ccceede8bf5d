// kafkajs 2.2.4 against a logship collector over SASL (SCRAM over TLS) or
// mutual TLS.
//
// usage: node secure.js BOOTSTRAP CA_FILE EXPECT sasl MECHANISM USER PASSWORD
//        node secure.js BOOTSTRAP CA_FILE EXPECT mtls CERT_FILE KEY_FILE
//        (NODE_PATH=.ci/node/node_modules)
//
// MECHANISM is kafkajs's name (scram-sha-512, plain, oauthbearer, ...).
// EXPECT ok:     admin creates and lists a topic, an idempotent producer
//                writes N records, a consumer group reads them all and
//                commits, and the committed offsets read back; prints
//                "ok kafkajs".
// EXPECT denied: connecting fails with kafkajs's SASL authentication error,
//                or UNSUPPORTED_SASL_MECHANISM from the handshake; prints
//                the error and "denied kafkajs".
// Any other outcome exits non-zero.
'use strict'
const assert = require('assert')
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const N = 100
const [bootstrap, caFile, expect, mode, ...rest] = process.argv.slice(2)

function config () {
  const ssl = { ca: [fs.readFileSync(caFile, 'utf8')] }
  const out = { clientId: 'kafkajs-secure', brokers: [bootstrap], logLevel: logLevel.NOTHING, ssl }
  if (mode === 'mtls') {
    ssl.cert = fs.readFileSync(rest[0], 'utf8')
    ssl.key = fs.readFileSync(rest[1], 'utf8')
  } else if (mode === 'sasl') {
    const [mechanism, username, password] = rest
    out.sasl = mechanism === 'oauthbearer'
      ? { mechanism, oauthBearerProvider: async () => ({ value: 'not-a-token' }) }
      : { mechanism, username, password }
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
  if (expect === 'denied') out.retry = { retries: 1, initialRetryTime: 100 }
  return out
}

async function denied (kafka) {
  const admin = kafka.admin()
  try {
    await admin.connect()
    await admin.listTopics()
  } catch (e) {
    // A wrong password fails the exchange; a mechanism the broker does not
    // offer fails the handshake with UNSUPPORTED_SASL_MECHANISM (33).
    assert(e.name === 'KafkaJSSASLAuthenticationError' ||
      (e.name === 'KafkaJSProtocolError' && e.type === 'UNSUPPORTED_SASL_MECHANISM'),
    `${e.name} ${e.type}: ${e.message}`)
    console.log(`refused: ${e.name} ${e.type || ''}: ${e.message}`)
    return
  } finally {
    await admin.disconnect()
  }
  throw new Error('listed topics without authenticating')
}

async function ok (kafka) {
  const topic = `secure-js-${Math.random().toString(16).slice(2, 10)}`
  const admin = kafka.admin()
  await admin.connect()
  assert(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }))
  assert((await admin.listTopics()).includes(topic), 'created topic not listed')

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  await producer.send({
    topic,
    messages: Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))
  })
  await producer.disconnect()

  const groupId = `secure-${topic}`
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 300, maxWaitTimeInMs: 300 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  const deadline = Date.now() + 30000
  while (got.length < N) {
    assert(Date.now() < deadline, `consumed ${got.length} of ${N}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.deepStrictEqual(got.slice().sort(), Array.from({ length: N }, (_, i) => `v${i}`).sort())
  const offsets = await admin.fetchTopicOffsets(topic)
  await consumer.commitOffsets(offsets.map(o => ({ topic, partition: o.partition, offset: o.high })))
  await consumer.disconnect()
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
  assert.strictEqual(committed.partitions.reduce((sum, p) => sum + Number(p.offset), 0), N)
  await admin.disconnect()
}

async function main () {
  const kafka = new Kafka(config())
  await (expect === 'denied' ? denied(kafka) : ok(kafka))
  console.log(`${expect} kafkajs`)
}

main().catch(e => { console.error(e); process.exit(1) })
