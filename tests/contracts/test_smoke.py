def test_partner_earns_points_for_a_customer(points, pid_a, partner_a, customer, purchase):
    tx = points.earn(purchase(customer, 120), {"from": partner_a})
    assert points.balanceOf(customer) == 120
    assert tx.events["Earned"]["partnerId"] == pid_a
