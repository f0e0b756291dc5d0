"""The asynchronous client (an e-shop backend, the simulator): the same calls, awaited."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

import httpx

from partners.sdk import calls
from partners.sdk.calls import Call
from partners.sdk.core import ClientBase, read, settled
from partners.sdk.errors import WaitTimeout
from partners.sdk.models import Model
from partners.sdk.ops import async_op as op

T = TypeVar("T")


class AsyncPartnerClient(ClientBase):
    """``async with AsyncPartnerClient(...) as coalition: await coalition.post_purchase(...)``;
    every method of :class:`~partners.sdk.sync.PartnerClient`, awaited."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0, **retry: Any) -> None:
        super().__init__(base_url, api_key, **retry)
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )

    async def __aenter__(self) -> AsyncPartnerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response: httpx.Response | None = await self.http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    content=call.content,
                    headers=None if call.content is None else {"Content-Type": "text/csv"},
                )
            except httpx.TransportError:
                if not self._retry(attempt, None):
                    raise
                response = None
            if not self._retry(attempt, response):
                break
            await asyncio.sleep(self._backoff(attempt, response))
            attempt += 1
        assert response is not None
        return read(call, response)

    async def request(self, method: str, path: str, json: Any = None, params: Any = None) -> Any:
        return await self.run(Call(method, path, lambda data: data, json=json, params=params))

    async def wait(self, status_url: str | Model, *, timeout_s: float = 60.0, poll_s: float = 0.2) -> Any:
        call = calls.status(calls.status_path(status_url, self.base_url))
        deadline = time.monotonic() + timeout_s
        while True:
            resource = await self.run(call)
            if settled(resource):
                return resource
            if time.monotonic() > deadline:
                raise WaitTimeout(call.path, resource, timeout_s)
            await asyncio.sleep(poll_s)

    post_purchase = op(calls.post_purchase)
    post_purchases = op(calls.post_purchases)
    purchase = op(calls.purchase)
    refund = op(calls.refund)
    refunds = op(calls.refunds)
    get_refund = op(calls.get_refund)
    add_reward = op(calls.add_reward)
    rewards = op(calls.rewards)
    reward = op(calls.reward)
    update_reward = op(calls.update_reward)
    redemption_consent = op(calls.redemption_consent)
    redeem = op(calls.redeem)
    redemption = op(calls.redemption)
    points_hold_consent = op(calls.points_hold_consent)
    authorise_points = op(calls.authorise_points)
    capture_points = op(calls.capture_points)
    release_points = op(calls.release_points)
    points_hold = op(calls.points_hold)
    wallet_challenge = op(calls.wallet_challenge)
    link_wallet = op(calls.link_wallet)
    custodial_wallet = op(calls.custodial_wallet)
    release_custodial_wallet = op(calls.release_custodial_wallet)
    cancel_custodial_release = op(calls.cancel_custodial_release)
    enrol = op(calls.enrol)
    member = op(calls.member)
    update_profile = op(calls.update_profile)
    record_consents = op(calls.record_consents)
    consents = op(calls.consents)
    import_customers = op(calls.import_customers)
    export_customers = op(calls.export_customers)
    customer = op(calls.get_customer)
    customer_balance = op(calls.customer_balance)
    customer_history = op(calls.customer_history)
    customer_tier = op(calls.customer_tier)
    customer_expiry = op(calls.customer_expiry)
    sign_in_link = op(calls.sign_in_link)
    campaigns = op(calls.campaigns)
    create_campaign = op(calls.create_campaign)
    campaign = op(calls.campaign)
    simulate_campaign = op(calls.simulate_campaign)
    start_campaign = op(calls.start_campaign)
    pause_campaign = op(calls.pause_campaign)
    stop_campaign = op(calls.stop_campaign)
    campaign_results = op(calls.campaign_results)
    membership_plans = op(calls.membership_plans)
    add_membership_plan = op(calls.add_membership_plan)
    subscribe = op(calls.subscribe)
    customer_perks = op(calls.customer_perks)
    subscription = op(calls.subscription)
    report_membership_payment = op(calls.report_membership_payment)
    cancel_membership = op(calls.cancel_membership)
    change_membership_plan = op(calls.change_membership_plan)
    customer_subscriptions = op(calls.customer_subscriptions)
    resume_membership = op(calls.resume_membership)
    rules = op(calls.rules)
    wallet_balance = op(calls.wallet_balance)
    wallet_history = op(calls.wallet_history)
    add_webhook = op(calls.add_webhook)
    webhooks = op(calls.webhooks)
    webhook = op(calls.webhook)
    delete_webhook = op(calls.delete_webhook)
    rotate_webhook_secret = op(calls.rotate_webhook_secret)
    webhook_deliveries = op(calls.webhook_deliveries)
    test_webhook = op(calls.test_webhook)
    account = op(calls.account)
    kpis = op(calls.kpis)
    rfm_segments = op(calls.rfm_segments)
    message_templates = op(calls.message_templates)
    message_template = op(calls.message_template)
    save_message_template = op(calls.save_message_template)
    delete_message_template = op(calls.delete_message_template)
    preview_message = op(calls.preview_message)
    message_brand = op(calls.message_brand)
    save_message_brand = op(calls.save_message_brand)
    messages = op(calls.messages)
    message = op(calls.message)
