import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressesClash, canonicalAddresses } from '../../src/domain/endpoints.ts';

test('addresses are compared in one spelling each', () => {
  assert.deepEqual(canonicalAddresses('localhost'), ['127.0.0.1', '0:0:0:0:0:0:0:1']);
  assert.deepEqual(canonicalAddresses('[::1]'), ['0:0:0:0:0:0:0:1']);
  assert.deepEqual(canonicalAddresses('::FFFF:127.0.0.1'), ['127.0.0.1']);
  assert.deepEqual(canonicalAddresses('2001:db8::0001'), ['2001:db8:0:0:0:0:0:1']);
  assert.deepEqual(canonicalAddresses('db.internal'), ['db.internal']);
  assert.deepEqual(canonicalAddresses('1::2::3'), ['1::2::3'], 'not an address: kept as a name');
});

test('wildcards clash with every address of their family; distinct addresses do not clash', () => {
  assert.equal(addressesClash('0.0.0.0', '10.1.2.3'), true);
  assert.equal(addressesClash('0.0.0.0', '::1'), false);
  assert.equal(addressesClash('::', '::1'), true);
  assert.equal(addressesClash('localhost', '::1'), true);
  assert.equal(addressesClash('127.0.0.1', '127.0.0.2'), false);
  assert.equal(addressesClash('a.example', 'b.example'), false);
});
