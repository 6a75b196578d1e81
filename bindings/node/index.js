'use strict';
const binding = require('./lib/binding');
const errors = require('./lib/errors');
const { Producer } = require('./lib/producer');
const { Consumer, ConsumerRecord } = require('./lib/consumer');
const { Admin, consumerId } = require('./lib/admin');
const { MockBroker } = require('./lib/mock');
const { GroupConsumer } = require('./lib/group');
const { RecordType } = require('./lib/types');

module.exports = {
  Producer,
  Consumer,
  ConsumerRecord,
  Admin,
  GroupConsumer,
  MockBroker,
  RecordType,
  consumerId,
  /** liblnc's version string, e.g. '0.1.0'. */
  version: () => binding.version(),
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => k !== 'makeError' && k !== 'errorFor')),
};
