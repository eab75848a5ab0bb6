import { defineRoute, type RouteContext } from '../../lib/routes.js';
import { IdParams } from '../../lib/schemas.js';
import { CreateItemBody, ItemPageSchema, ItemSchema, ListItemsQuery, UpdateItemBody } from './items.schemas.js';
import type { ItemsService } from './items.service.js';

export function itemsRoutes(context: RouteContext, deps: { items: ItemsService }) {
  const { items } = deps;
  const tags = ['items'];

  defineRoute(
    context,
    {
      method: 'get',
      // '' rather than '/': the documented path is then /v1/items, without a trailing slash.
      path: '',
      summary: 'The caller’s items (an admin’s: everyone’s), newest first',
      tags,
      access: 'user',
      query: ListItemsQuery,
      responses: { 200: { description: 'one page of items', schema: ItemPageSchema } },
      errors: [403],
    },
    async ({ user, query }, _req, res) => {
      res.json(await items.list(user!, query));
    },
  );

  defineRoute(
    context,
    {
      method: 'post',
      path: '',
      summary: 'Create an item (an admin may create it for another user)',
      tags,
      access: 'user',
      body: CreateItemBody,
      responses: { 201: { description: 'created', schema: ItemSchema } },
      errors: [403, 404, 413, 415],
    },
    async ({ user, body }, _req, res) => {
      const item = await items.create(user!, body);
      res.status(201).location(`${context.prefix}/${item.id}`).json(item);
    },
  );

  defineRoute(
    context,
    {
      method: 'get',
      path: '/:id',
      summary: 'One item',
      tags,
      access: 'user',
      params: IdParams,
      responses: { 200: { description: 'the item', schema: ItemSchema } },
      errors: [404],
    },
    async ({ user, params }, _req, res) => {
      res.json(await items.get(user!, params.id));
    },
  );

  defineRoute(
    context,
    {
      method: 'patch',
      path: '/:id',
      summary: 'Change an item’s title, body or tags',
      tags,
      access: 'user',
      params: IdParams,
      body: UpdateItemBody,
      responses: { 200: { description: 'the changed item', schema: ItemSchema } },
      errors: [404, 413, 415],
    },
    async ({ user, params, body }, _req, res) => {
      res.json(await items.update(user!, params.id, body));
    },
  );

  defineRoute(
    context,
    {
      method: 'delete',
      path: '/:id',
      summary: 'Delete an item',
      tags,
      access: 'user',
      params: IdParams,
      responses: { 204: { description: 'deleted' } },
      errors: [404],
    },
    async ({ user, params }, _req, res) => {
      await items.delete(user!, params.id);
      res.status(204).end();
    },
  );
}
