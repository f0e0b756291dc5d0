import brownie


def test_probe(points, registry, clearing, pid_a, partner_a, customer, stranger, purchase):
    try:
        registry.partner(99)
    except Exception as e:
        print("view", type(e).__name__, repr(getattr(e, "revert_msg", None)), str(e)[:200])
    with brownie.reverts("PartnerRegistryUnknownPartner: 99"):
        registry.partner(99)
    tx = points.earnBatch([purchase(customer, 5), purchase(customer, 7)], {"from": partner_a})
    print("rv", tx.return_value, tx.events["Earned"], type(tx.events["Earned"]["purchases"][0]))
    tx = points.redeem(pid_a, 3, b"\x01" * 32, {"from": customer})
    print(tx.events["Redeemed"], customer.balance())
    print(registry.partner(pid_a), type(registry.partner(pid_a)))
    print(points.OPERATOR_ROLE(), type(points.OPERATOR_ROLE()))
